#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace cxesdb::gateway {

class tls_server_context;

/// How the client port listens and bounds its connections. The node sets
/// every field from its flags (docs/operations.md); the defaults here are
/// the flags' defaults.
///
/// What one connection can make the node hold, in bytes: its framing buffer
/// (at most `message_bytes_max` plus one read of `read_chunk_bytes`), and its
/// output not yet taken by the kernel. Output is bounded by backpressure, not
/// by refusing it: above `output_bytes_max` the connection is not read, so
/// no new requests start; the answers of the requests already in work (at
/// most `inflight_per_connection_max`) and the events of its persistent
/// subscriptions (at most their `max_in_flight` each) can still come; its
/// transient subscriptions are dropped above `subscriber_buffer_bytes_max`.
struct server_config {
  std::string bind = "127.0.0.1";
  uint16_t port = 7411; ///< 0 picks a free port

  /// Longest message (one line, without its `\n` or `\r\n`), in bytes;
  /// longer ones are answered `too_large` and skipped.
  size_t message_bytes_max = 16u << 20;

  /// Open client connections at most; more are answered `overloaded` and
  /// closed. A connection counts until its socket is closed (a client that
  /// half-closed counts while its answers are written).
  size_t connections_max = 1024;
  static constexpr size_t connections_max_default = 1024;

  /// Messages of one connection being worked on at most; beyond it the
  /// server stops reading that connection until half of them are answered
  /// (backpressure instead of unbounded queues).
  size_t inflight_per_connection_max = 1024;
  static constexpr size_t inflight_per_connection_default = 1024;

  /// Bytes of output queued for a connection but not yet taken by the
  /// kernel, above which the server stops reading that connection's
  /// requests until half of it is gone (a client that sends but never reads
  /// cannot make the node's memory grow without bound).
  size_t output_bytes_max = 16u << 20;
  static constexpr size_t output_bytes_default = 16u << 20;

  /// Bytes of output queued for a connection but not yet taken by the
  /// kernel, above which its transient subscriptions are dropped (slow
  /// consumer).
  size_t subscriber_buffer_bytes_max = 8u << 20;
  static constexpr size_t subscriber_buffer_bytes_default = 8u << 20;

  /// TLS (--tls-cert, --tls-key; gateway/tls.hpp): when set, the port
  /// speaks TLS only. Null: plain TCP.
  std::shared_ptr<const tls_server_context> tls;

  /// How long a TLS client may take from connecting to the end of its
  /// handshake, in milliseconds, flag --tls-handshake-timeout-ms; a
  /// connection that has not finished by then is closed (a half-finished
  /// handshake does not hold a connection slot for ever).
  int64_t tls_handshake_timeout_ms = 10000;
  static constexpr int64_t tls_handshake_timeout_default_ms = 10000;

  /// Bytes asked of the kernel in one read of a connection. Also the most a
  /// framing buffer can hold beyond `message_bytes_max` before the line is
  /// found too long.
  static constexpr size_t read_chunk_bytes = 64u << 10;

  /// Connections accepted in one turn of the IO thread's loop at most, so
  /// that a burst of connects does not starve the open connections.
  static constexpr size_t accepts_per_turn_max = 64;

  /// When set, the IO thread keeps the number of open client connections
  /// here (read by /metrics as `cxesdb_connections`).
  std::shared_ptr<std::atomic<int64_t>> open_connections;

  /// How long accepting pauses when the process is out of file descriptors
  /// (EMFILE, ENFILE), in milliseconds: the pending connection stays in the
  /// kernel's backlog instead of waking the IO thread in a busy loop.
  static constexpr int accept_pause_ms = 100;

  /// Write buffer capacity a connection keeps once it is flushed, in bytes;
  /// a larger one is released, so an idle connection does not hold the peak
  /// of an earlier burst.
  static constexpr size_t idle_buffer_bytes_max = 256u << 10;
};

} // namespace cxesdb::gateway
