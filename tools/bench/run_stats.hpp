#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tools/bench/histogram.hpp"

namespace cxesdb::tools {

/// Error reasons the generator itself assigns, next to the node's
/// `data.reason` tags.
namespace reason {

/// A connection failed, closed, or could not be made.
constexpr const char* transport = "transport";

/// No response within the client-side timeout.
constexpr const char* client_timeout = "client_timeout";

/// A response the scan could not read, or an error without `data.reason`.
constexpr const char* malformed = "malformed";

} // namespace reason

/// The counters of one measured window: completed requests and events, the
/// latency histogram, and errors by reason.
struct run_stats {
  uint64_t requests_ok = 0;
  uint64_t events_ok = 0;
  histogram latency;
  std::map<std::string, uint64_t> errors;

  uint64_t error_total() const {
    uint64_t n = 0;
    for (auto& [r, c] : errors)
      n += c;
    return n;
  }

  uint64_t errors_of(const std::string& r) const {
    auto i = errors.find(r);
    return i == errors.end() ? 0 : i->second;
  }

  void reset() {
    requests_ok = 0;
    events_ok = 0;
    latency.reset();
    errors.clear();
  }
};

} // namespace cxesdb::tools
