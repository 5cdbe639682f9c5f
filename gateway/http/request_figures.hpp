#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cxesdb::gateway::http {

/// The requests a node answered, as one scrape of /metrics shows them
/// (`cxesdb_requests_total`, `cxesdb_request_duration_seconds`,
/// `cxesdb_errors_total`; protocol.md section 11). Plain values: the
/// gateway fills them, the HTTP server prints them.
struct request_figures {
  /// Upper bounds of the duration histogram's buckets, in seconds,
  /// ascending; the `+Inf` bucket is implied.
  std::vector<double> bounds_s;

  struct per_method {
    std::string method;
    uint64_t count = 0;
    double sum_s = 0;
    /// Requests at or below each bound (cumulative), one per `bounds_s`.
    std::vector<uint64_t> at_or_below;
  };
  /// Every method of the protocol, answered or not (zeros).
  std::vector<per_method> methods;

  /// Error answers by reason (`data.reason`), every reason listed.
  std::vector<std::pair<std::string, uint64_t>> errors;
};

} // namespace cxesdb::gateway::http
