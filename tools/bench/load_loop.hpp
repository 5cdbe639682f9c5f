#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tools/bench/flags.hpp"
#include "tools/bench/proc_stat.hpp"
#include "tools/bench/response_scan.hpp"
#include "tools/bench/run_stats.hpp"

namespace cxesdb::tools {

/// One request in flight on a connection.
struct request_slot {
  uint64_t id = 0;
  int64_t sent_ns = 0;
  /// Events the request carries or asks for (0 for health).
  uint32_t events = 0;
  /// A workload's own cookie (e.g. the stream index in exact mode).
  uint32_t tag = 0;
  /// Sequence number of the request's first event id (subscribe matching).
  uint64_t first_seq = 0;
};

/// What a load loop sends and how it reads the answers: the append, read and
/// health workloads implement it. Called only from the loop's thread.
class workload {
public:
  virtual ~workload() = default;

  /// Appends the next request line of `client`, with id `id` and a final
  /// '\n', to `out`, and fills `slot.events` and `slot.tag`. Returns false
  /// when the client has nothing to send now; it is asked again after its
  /// next response.
  virtual bool next_request(size_t client, uint64_t id, std::string& out,
                            request_slot& slot)
    = 0;

  /// A response to `slot` arrived (success or error).
  virtual void on_response(size_t /*client*/, const request_slot& /*slot*/,
                           const response_view& /*r*/, int64_t /*now_ns*/) {
  }

  /// `slot` will never be answered: client-side timeout or a lost
  /// connection.
  virtual void on_lost(size_t /*client*/, const request_slot& /*slot*/) {
  }

  /// True when responses must be scanned for `result.version`.
  virtual bool want_version() const {
    return false;
  }
};

/// How the load loop runs.
struct load_options {
  std::vector<endpoint> endpoints;

  /// Connections; connection i goes to endpoints[i % endpoints.size()].
  size_t clients = clients_default;
  static constexpr size_t clients_default = 16;
  static constexpr size_t clients_max = 4096;

  /// Requests in flight per connection.
  size_t pipeline = 1;
  static constexpr size_t pipeline_max = 1024;

  /// Measured seconds, after the warm-up.
  double duration_s = 10;

  /// Seconds before the measured window, excluded from every statistic.
  double warmup_s = 1;

  /// Events per second over all clients; 0 is unlimited.
  double rate_events_per_s = 0;

  /// A request unanswered this long counts as a `client_timeout` error.
  int64_t timeout_ms = 30000;

  /// Connect timeout per connection.
  int64_t connect_timeout_ms = 5000;

  /// Print a progress line to stderr each second.
  bool progress = true;

  /// When set, the node's CPU over the measured window is sampled too.
  std::optional<pid_t> node_pid;

  /// TLS and a token: each connection's handshake and `authenticate` run
  /// when it connects, before its first request (inside the warm-up).
  security_options security;
};

/// What a load loop measured.
struct load_result {
  run_stats stats;
  /// Length of the measured window.
  double measured_s = 0;
  /// The generator's CPU over the measured window.
  cpu_times self_cpu;
  /// The node's CPU over the window, when `node_pid` was given.
  std::optional<cpu_times> node_cpu;
  /// Connections that never connected or failed.
  size_t connections_failed = 0;
};

/// Runs `w` on `opts.clients` non-blocking connections from one epoll thread
/// (the calling one) for warmup + duration seconds, each connection keeping
/// up to `opts.pipeline` requests in flight, and returns the statistics of
/// the measured window.
load_result run_load(const load_options& opts, workload& w);

/// Monotonic clock in nanoseconds.
int64_t now_ns();

} // namespace cxesdb::tools
