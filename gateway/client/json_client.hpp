#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/client/tls_client.hpp"

namespace cxesdb::gateway {

/// A blocking JSON-RPC 2.0 client over one TCP connection, speaking the NDJSON
/// framing of the client protocol. Used by the shell, the benchmark tool and
/// the integration tests; it has no CAF dependency.
///
/// With `tls_options`, it speaks TLS (1.2 or 1.3, OpenSSL) and checks the
/// node's certificate; with a token, every connect ends with
/// `authenticate` (protocol section 8).
///
/// Not thread-safe: one thread per client.
class json_client {
public:
  /// How to speak TLS to the node.
  using tls_options = tls_client_options;


  /// Default time to wait for one message.
  static constexpr int timeout_ms_default = 10000;

  /// Largest message `read_line` accepts (64 MiB). A longer one breaks the
  /// framing: the connection is closed.
  static constexpr size_t message_bytes_max = 64u << 20;

  /// Messages `call` keeps for later `read_message` calls (notifications and
  /// answers to other ids) at most; beyond it the oldest are dropped.
  static constexpr size_t pending_messages_max = 100000;

  json_client() = default;
  json_client(const json_client&) = delete;
  json_client& operator=(const json_client&) = delete;
  json_client(json_client&& other) noexcept;
  json_client& operator=(json_client&& other) noexcept;
  ~json_client();

  /// Connects to host:port (then the TLS handshake and `authenticate` when
  /// set). Returns an error text, or nothing on success. A refused token
  /// is an error that names the node's reason (never the token).
  std::optional<std::string> connect(const std::string& host, uint16_t port,
                                     int timeout_ms = timeout_ms_default);

  /// Speaks TLS from the next `connect` on; nothing: plain TCP.
  void set_tls(std::optional<tls_options> tls) {
    tls_ = std::move(tls);
  }

  /// Authenticates with `token` after every `connect`; empty: does not.
  void set_token(std::string token) {
    token_ = std::move(token);
  }

  bool connected() const noexcept {
    return fd_ >= 0;
  }

  void close();

  /// Sends raw bytes as they are (no newline added). False when the
  /// connection failed.
  bool send_raw(const std::string& bytes);

  /// Sends one JSON value followed by '\n'.
  bool send(const nlohmann::json& msg);

  /// Reads one newline-terminated message as text, without the newline.
  /// Nothing on timeout, closed connection or error.
  std::optional<std::string> read_line(int timeout_ms = timeout_ms_default);

  /// Reads one message and parses it. Nothing on timeout, closed connection,
  /// or unparsable text.
  std::optional<nlohmann::json>
  read_message(int timeout_ms = timeout_ms_default);

  /// Sends a request with a fresh numeric id and waits for the response with
  /// that id. Notifications and responses to other ids that arrive meanwhile
  /// (also errors with id null: the node's answer to a message it could not
  /// read, which cannot be told apart from the answer to an earlier raw
  /// message) are kept and returned by later `read_message` calls. Nothing
  /// on timeout or connection loss. The result is the whole response object
  /// (with either "result" or "error"). A caller that may send a message
  /// over the node's limit reads with `read_message` instead.
  std::optional<nlohmann::json> call(const std::string& method,
                                     nlohmann::json params
                                     = nlohmann::json::object(),
                                     int timeout_ms = timeout_ms_default);

  /// The id the next `call` will use.
  int64_t next_id() const noexcept {
    return next_id_;
  }

private:
  /// The TLS handshake on the connected socket, within `timeout_ms`.
  std::optional<std::string> start_tls(const std::string& host,
                                       int timeout_ms);
  /// Sends all of `len` bytes (TLS or not). False when the connection failed.
  bool send_all(const char* data, size_t len);
  /// Receives some bytes, waiting up to `timeout_ms`: the count, 0 at the
  /// end of the stream or on an error, -1 on timeout.
  long receive(char* buf, size_t max, int timeout_ms);

  std::optional<tls_options> tls_;
  std::string token_;
  std::unique_ptr<tls_client_session> ssl_;
  int fd_ = -1;
  int64_t next_id_ = 1;
  std::string buf_;
  size_t scanned_ = 0; // bytes of buf_ known to hold no '\n'
  std::deque<std::string> pending_; // messages read by call() for others
};

} // namespace cxesdb::gateway
