#include "tools/bench/histogram.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace cxesdb::tools {

size_t histogram::index_of(uint64_t v) noexcept {
  if (v < sub_buckets)
    return static_cast<size_t>(v);
  int msb = 63 - __builtin_clzll(v);
  int shift = msb - sub_bits;
  // (v >> shift) lies in [sub_buckets, 2 * sub_buckets).
  size_t i = static_cast<size_t>(shift + 1) * sub_buckets
             + static_cast<size_t>((v >> shift) - sub_buckets);
  assert(i < bucket_count);
  return i;
}

uint64_t histogram::highest_of(size_t index) noexcept {
  if (index < sub_buckets)
    return index;
  size_t shift = index / sub_buckets - 1;
  uint64_t sub = index % sub_buckets + sub_buckets;
  uint64_t low = sub << shift;
  uint64_t width = uint64_t{1} << shift;
  return low + (width - 1);
}

void histogram::record(uint64_t v) noexcept {
  ++buckets_[index_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void histogram::merge(const histogram& other) noexcept {
  for (size_t i = 0; i < bucket_count; ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::reset() noexcept {
  buckets_.fill(0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

uint64_t histogram::quantile_ns(double q) const noexcept {
  if (count_ == 0)
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the wanted value, 1-based: at least 1, at most count_.
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank)
      return std::min(highest_of(i), max_);
  }
  return max_;
}

} // namespace cxesdb::tools
