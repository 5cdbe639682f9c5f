#include "gateway/request_metrics.hpp"

#include <algorithm>
#include <cmath>

namespace cxesdb::gateway {

void request_metrics::observe(method m, double seconds) noexcept {
  auto& pm = methods_[static_cast<size_t>(m)];
  pm.count.fetch_add(1, std::memory_order_relaxed);
  auto us = seconds > 0 ? std::llround(seconds * 1e6) : 0;
  pm.sum_us.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_s.begin(), bounds_s.end(), seconds)
    - bounds_s.begin());
  pm.buckets[i].fetch_add(1, std::memory_order_relaxed);
}

void request_metrics::count_error(stores::errc reason) noexcept {
  auto i = static_cast<size_t>(reason);
  if (i < reasons_n)
    errors_[i].fetch_add(1, std::memory_order_relaxed);
}

http::request_figures request_metrics::figures() const {
  http::request_figures out;
  out.bounds_s.assign(bounds_s.begin(), bounds_s.end());
  for (size_t i = 0; i < methods_n; ++i) {
    auto& pm = methods_[i];
    http::request_figures::per_method f;
    f.method = method_name(static_cast<method>(i));
    uint64_t running = 0;
    for (size_t b = 0; b < bounds_s.size(); ++b) {
      running += pm.buckets[b].load(std::memory_order_relaxed);
      f.at_or_below.push_back(running);
    }
    running += pm.buckets[bounds_s.size()].load(std::memory_order_relaxed);
    // The count is at least what the buckets hold, so that a scrape racing
    // an update never shows a +Inf bucket above the count.
    f.count = std::max(running, pm.count.load(std::memory_order_relaxed));
    f.sum_s = static_cast<double>(pm.sum_us.load(std::memory_order_relaxed))
              / 1e6;
    out.methods.push_back(std::move(f));
  }
  // Every reason a client can see: not_leader never leaves the node.
  for (size_t i = 1; i < reasons_n; ++i) {
    auto r = static_cast<stores::errc>(i);
    if (r == stores::errc::not_leader)
      continue;
    out.errors.emplace_back(stores::to_reason(r),
                            errors_[i].load(std::memory_order_relaxed));
  }
  return out;
}

} // namespace cxesdb::gateway
