#include "actors/hash_ring.hpp"

#include <algorithm>

#include "actors/assert.hpp"

namespace cxesdb::actors {

namespace {

constexpr uint64_t fnv_offset_basis = 0xcbf29ce484222325ull;
constexpr uint64_t fnv_prime = 0x100000001b3ull;

/// MurmurHash3's fmix64: every input bit affects every output bit.
uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

} // namespace

uint64_t stable_hash64(const std::string& text) {
  uint64_t h = fnv_offset_basis;
  for (unsigned char c : text) {
    h ^= c;
    h *= fnv_prime;
  }
  h = fmix64(h);
  return h == 0 ? 1 : h;
}

hash_ring::hash_ring(std::vector<std::string> nodes, size_t vnodes)
  : nodes_(std::move(nodes)), vnodes_(vnodes) {
  CXESDB_ASSERT(vnodes_ >= 1 && vnodes_ <= vnodes_max);
  std::sort(nodes_.begin(), nodes_.end());
  nodes_.erase(std::unique(nodes_.begin(), nodes_.end()), nodes_.end());
  CXESDB_ASSERT(nodes_.size() < UINT32_MAX);
  points_.reserve(nodes_.size() * vnodes_);
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    CXESDB_ASSERT(!nodes_[i].empty());
    for (size_t v = 0; v < vnodes_; ++v)
      points_.emplace_back(stable_hash64(nodes_[i] + "#" + std::to_string(v)),
                           i);
  }
  std::sort(points_.begin(), points_.end());
}

size_t hash_ring::first_point(uint64_t h) const {
  CXESDB_ASSERT(!points_.empty());
  auto i = std::lower_bound(points_.begin(), points_.end(),
                            std::make_pair(h, uint32_t{0}));
  return i == points_.end() ? 0 : static_cast<size_t>(i - points_.begin());
}

std::vector<std::string> hash_ring::owners(const std::string& key,
                                           size_t n) const {
  std::vector<std::string> result;
  n = std::min(n, nodes_.size());
  if (n == 0)
    return result;
  result.reserve(n);
  std::vector<bool> taken(nodes_.size(), false);
  auto start = first_point(stable_hash64(key));
  // Every node has a point, so one turn around the circle finds n of them.
  for (size_t k = 0; k < points_.size() && result.size() < n; ++k) {
    auto node = points_[(start + k) % points_.size()].second;
    if (!taken[node]) {
      taken[node] = true;
      result.push_back(nodes_[node]);
    }
  }
  CXESDB_ASSERT(result.size() == n);
  return result;
}

const std::string& hash_ring::owner(const std::string& key) const {
  CXESDB_ASSERT(!empty());
  return nodes_[points_[first_point(stable_hash64(key))].second];
}

} // namespace cxesdb::actors
