#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gateway/http/request_figures.hpp"
#include "gateway/json_rpc.hpp"
#include "stores/errc.hpp"

namespace cxesdb::gateway {

/// Counts what a node's gateway answers: requests and their durations per
/// method, error answers per reason. Gateway workers update it with relaxed
/// atomic adds (no lock, no allocation, nothing that waits); the HTTP
/// server's thread reads it on a scrape (`figures`). One per node, shared
/// by the workers; the figures are monotonic counters, so a scrape that
/// races an update sees either side of it.
class request_metrics {
public:
  /// Upper bounds of the duration histogram, in seconds.
  static constexpr std::array<double, 14> bounds_s{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

  /// A request for `m` was answered after `seconds` (error or not).
  void observe(method m, double seconds) noexcept;

  /// An error answer with `reason` (any request, also those refused before
  /// a method was known: parse errors, unknown methods, batches too large).
  void count_error(stores::errc reason) noexcept;

  /// A copy for a scrape.
  http::request_figures figures() const;

private:
  static constexpr size_t methods_n = method_count;
  static constexpr size_t reasons_n
    = static_cast<size_t>(stores::errc::stream_deleted) + 1;

  struct per_method {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_us{0};
    /// Not cumulative: requests in (bound[i-1], bound[i]]; the last one
    /// counts those above every bound.
    std::array<std::atomic<uint64_t>, bounds_s.size() + 1> buckets{};
  };
  std::array<per_method, methods_n> methods_{};
  std::array<std::atomic<uint64_t>, reasons_n> errors_{};
};

} // namespace cxesdb::gateway
