#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cxesdb::tools {

/// A fixed-size log-linear latency histogram in nanoseconds, in the manner of
/// HdrHistogram: every power of two is split into `sub_buckets` linear
/// buckets, so a recorded value is known to within 1/`sub_buckets` (< 0.8%)
/// without keeping samples. Recording is O(1) and allocation-free.
class histogram {
public:
  /// log2 of the linear buckets per power of two.
  static constexpr int sub_bits = 7;

  /// Linear buckets per power of two.
  static constexpr uint64_t sub_buckets = uint64_t{1} << sub_bits;

  /// Number of buckets: values up to 2^64 ns.
  static constexpr size_t bucket_count = (64 - sub_bits + 1) * sub_buckets;

  /// Adds one value.
  void record(uint64_t value_ns) noexcept;

  /// Adds every value of `other`.
  void merge(const histogram& other) noexcept;

  /// Forgets every value.
  void reset() noexcept;

  uint64_t count() const noexcept {
    return count_;
  }

  uint64_t max_ns() const noexcept {
    return max_;
  }

  uint64_t min_ns() const noexcept {
    return count_ == 0 ? 0 : min_;
  }

  double mean_ns() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_;
  }

  /// The value at quantile `q` (0..1): the highest value equivalent to the
  /// bucket holding it, clipped to the largest recorded value. 0 when empty.
  uint64_t quantile_ns(double q) const noexcept;

  /// Bucket index of a value (exposed for tests).
  static size_t index_of(uint64_t value_ns) noexcept;

  /// Largest value that falls into bucket `index`.
  static uint64_t highest_of(size_t index) noexcept;

private:
  std::array<uint64_t, bucket_count> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

/// Nanoseconds as milliseconds.
inline double ns_to_ms(uint64_t ns) noexcept {
  return static_cast<double>(ns) / 1e6;
}

} // namespace cxesdb::tools
