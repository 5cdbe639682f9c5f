#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/fwd.hpp"

namespace cxesdb::gateway {

/// How the JSON-RPC server listens and bounds its connections.
struct server_config {
  std::string bind = "127.0.0.1";
  uint16_t port = 7411; ///< 0 picks a free port

  /// Longest message (one line); longer ones are answered `too_large`.
  size_t message_bytes_max = 16u << 20;

  /// Open client connections at most; more are answered `overloaded` and
  /// closed.
  size_t connections_max = 1024;
  static constexpr size_t connections_max_default = 1024;

  /// Messages of one connection being worked on at most; beyond it the
  /// server stops reading that connection until answers go out
  /// (backpressure instead of unbounded queues).
  size_t inflight_per_connection_max = 1024;
  static constexpr size_t inflight_per_connection_default = 1024;

  /// Answers written to a connection but not yet taken by the client, above
  /// which the server stops reading that connection's requests until half
  /// of it is gone (a client that sends but never reads cannot make the
  /// node's memory grow without bound).
  size_t output_bytes_max = 16u << 20;
  static constexpr size_t output_bytes_default = 16u << 20;

  /// Bytes written to a connection that the client has not read yet, above
  /// which its transient subscriptions are dropped (slow consumer).
  size_t subscriber_buffer_bytes_max = 8u << 20;
  static constexpr size_t subscriber_buffer_bytes_default = 8u << 20;
};

/// Spawns the JSON-RPC server, an `io::broker` that accepts TCP connections
/// and forks one broker per connection. A connection broker frames NDJSON
/// (`\n` or `\r\n`), hands every message to `gateway`, and writes the answers
/// back as they come, in any order.
///
/// Returns the server's actor in `server` and the bound port, or an error
/// text in `err` (then the result is 0).
uint16_t start_json_rpc_server(caf::actor_system& sys, caf::actor gateway,
                               const server_config& cfg, caf::actor& server,
                               std::string& err);

} // namespace cxesdb::gateway
