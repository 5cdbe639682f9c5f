#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/server_config.hpp"

namespace cxesdb::gateway {

struct server_wakeup;

/// The side of one client connection that other threads write to: the
/// output queued for the IO thread and the count of messages in work.
/// Thread-safe. It outlives the socket: once the connection is closed,
/// writes are dropped.
class connection_output {
public:
  connection_output(uint64_t id, std::shared_ptr<server_wakeup> wakeup);

  connection_output(const connection_output&) = delete;
  connection_output& operator=(const connection_output&) = delete;

  /// Queues `text` (complete lines, each ending in `\n`) for the client and
  /// wakes the IO thread. Returns the bytes queued for this connection and
  /// not yet taken by the kernel, `text` included (0 once closed).
  size_t write(std::string text);

  /// One message handed to `connection_handler::on_line` is done; `text` is
  /// its answer (complete lines; empty when nothing is to be sent). Returns
  /// what `write` returns.
  size_t answered(std::string text);

  /// Asks the IO thread to close the connection (its owner is gone).
  /// Output still queued is dropped.
  void close();

  /// Asks the IO thread to stop reading the connection and to close it once
  /// every answer due is written (a client that failed authentication too
  /// often). Messages already read and not yet handed out are dropped.
  void finish();

private:
  friend class socket_server;

  /// Puts this connection on the IO thread's list, once.
  void notify_locked_(std::unique_lock<std::mutex>& guard);

  const uint64_t id_;
  const std::shared_ptr<server_wakeup> wakeup_;

  std::mutex mtx_;
  std::string pending_;       ///< queued, not yet moved to the socket's buffer
  size_t unsent_bytes_ = 0;   ///< pending_ plus the IO thread's unwritten part
  size_t inflight_ = 0;       ///< lines handed out and not yet answered
  bool queued_ = false;       ///< on the IO thread's list
  bool watched_ = false;      ///< the IO thread waits on `inflight_`
  bool close_requested_ = false;
  bool finish_requested_ = false;
  bool closed_ = false;       ///< the socket is closed: drop writes
};

/// What the server does with one connection's messages. The IO thread calls
/// these, one connection at a time: each must return at once and never block
/// (hand the work to someone else).
class connection_handler {
public:
  virtual ~connection_handler();

  /// A complete message arrived, without its `\n` or `\r\n`; blank lines
  /// are not messages. It counts as in work until
  /// `connection_output::answered` is called for it.
  virtual void on_line(std::string line) = 0;

  /// A message longer than `server_config::message_bytes_max` arrived; it
  /// is skipped and not in work.
  virtual void on_line_too_long() = 0;

  /// The connection is closed (the client went away, an error, the server
  /// stops). Nothing follows.
  virtual void on_closed() = 0;
};

/// Makes the handler of a connection just accepted, given its output side.
using handler_factory = std::function<std::unique_ptr<connection_handler>(
  std::shared_ptr<connection_output>)>;

/// The client port's socket server: one thread the node owns (not a CAF
/// scheduler thread) running epoll over a non-blocking listening socket,
/// the client sockets and an eventfd that other threads use to wake it when
/// they queued output. It frames NDJSON (`\n` or `\r\n`), stops reading a
/// connection while it has too much in work or too much unread output
/// (`server_config`), refuses connections beyond `connections_max` with
/// `refusal` and closes them. When a client half-closes (end of stream), it
/// stops reading, writes every answer still due, then closes.
class socket_server {
public:
  /// `refusal` is the line written to a connection beyond
  /// `connections_max` before it is closed.
  socket_server(server_config cfg, handler_factory make_handler,
                std::string refusal);

  /// Stops the thread if it runs.
  ~socket_server();

  socket_server(const socket_server&) = delete;
  socket_server& operator=(const socket_server&) = delete;

  /// Binds and listens on `cfg.bind:cfg.port` (blocking name resolution:
  /// call it before the actors need it, not on a scheduler thread).
  /// Returns the bound port, or 0 and an error text in `err`.
  uint16_t listen(std::string& err);

  /// Starts the IO thread. Requires a successful `listen`.
  void start();

  /// Stops the IO thread and waits for it: output still queued is written
  /// as far as the kernel takes it without waiting, then every connection
  /// is closed (`on_closed`) and so is the listening socket. Blocks briefly:
  /// call it from a thread that may block. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cxesdb::gateway
