#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/client/json_client.hpp"

namespace cxesdb::shell {

/// How one request ended.
enum class call_status {
  /// The node answered with a result.
  ok,
  /// The node answered with a JSON-RPC error.
  error,
  /// No answer arrived in time; the outcome is unknown.
  timeout,
  /// The connection failed or closed before the answer arrived.
  disconnected,
};

/// How one `connection::read_message` ended.
enum class read_status {
  /// A message arrived (`body`; not necessarily JSON-RPC).
  message,
  /// Nothing arrived in time; the connection stays open.
  timeout,
  /// The connection failed or closed (`text` says so).
  disconnected,
  /// A message outgrew `json_client::message_bytes_max`; the connection is
  /// closed.
  too_large,
};

/// One message read by `connection::read_message`.
struct read_outcome {
  read_status status;
  nlohmann::json body;
  std::string text;
};

/// The outcome of one request: `body` holds the result (ok) or the error
/// object (error); `text` describes a timeout or a lost connection.
struct call_outcome {
  call_status status;
  nlohmann::json body;
  std::string text;
};

/// The shell's connection to one node: a `gateway::json_client` plus the
/// address to (re)connect to.
///
/// Requests go one at a time. `call` does not use `json_client::call`
/// because that waits for a response with the request's id only, while the
/// node answers `too_large` and `parse_error` with id null (protocol
/// section 1): `call` takes such an error as the answer to its request, so
/// the shell reports it at once instead of waiting for the timeout.
/// Notifications (subscription events) that arrive meanwhile are kept for
/// `read_message` (only `tail` subscribes), answers to other ids are
/// dropped (`tail` does not wait for its ack_event answers). An answer longer than
/// `json_client::message_bytes_max` is reported as `too_large` and the
/// connection is reopened at the next request.
class connection {
public:
  connection(std::string host, uint16_t port, int timeout_ms);

  /// TLS and a token for every later connect (json_client::set_tls,
  /// set_token).
  void secure(std::optional<gateway::json_client::tls_options> tls,
              std::string token) {
    client_.set_tls(std::move(tls));
    client_.set_token(std::move(token));
  }

  /// Connects unless connected, waiting at most `timeout_ms`. Returns an
  /// error text, or nothing.
  std::optional<std::string> ensure_connected(int timeout_ms);

  /// Connects unless connected, with the default timeout.
  std::optional<std::string> ensure_connected() {
    return ensure_connected(timeout_ms_);
  }

  bool connected() const noexcept {
    return client_.connected();
  }

  /// Sends one request (connecting first if needed) and waits for its
  /// answer; connecting and waiting take at most `timeout_ms` each.
  call_outcome call(const std::string& method, nlohmann::json params,
                    int timeout_ms);

  /// Sends one request with the default timeout.
  call_outcome call(const std::string& method, nlohmann::json params) {
    return call(method, std::move(params), timeout_ms_);
  }

  /// Sends one request with a fresh id and does not wait for its answer
  /// (which `read_message` returns later). Returns the request's id, or
  /// nothing when not connected or the send failed.
  std::optional<int64_t> send(const std::string& method,
                              nlohmann::json params);

  /// The next message: a notification kept by `call` first, else one read
  /// within `timeout_ms`.
  read_outcome read_message(int timeout_ms);

  /// Closes the connection (ending its subscriptions) and forgets the kept
  /// notifications; the next request reconnects.
  void close();

  int timeout_ms() const noexcept {
    return timeout_ms_;
  }

  const std::string& host() const noexcept {
    return host_;
  }

  uint16_t port() const noexcept {
    return port_;
  }

private:
  std::string host_;
  uint16_t port_;
  int timeout_ms_;
  int64_t next_id_ = 1;
  gateway::json_client client_;
  std::deque<nlohmann::json> notifications_; // kept by call()
};

} // namespace cxesdb::shell
