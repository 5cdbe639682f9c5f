#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace cxesdb::gateway {

/// How a client speaks TLS to a node's client port (protocol section 8).
struct tls_client_options {
  /// PEM file of the CA certificates that signed the node's certificate;
  /// empty: the system's trusted CAs.
  std::string ca_file;
  /// PEM client certificate and key, for a node with --tls-client-ca.
  std::string cert_file;
  std::string key_file;
  /// The name the node's certificate must carry (DNS name or IP address);
  /// empty: the host connected to.
  std::string server_name;
};

/// The client side of TLS on one connected socket (OpenSSL; TLS 1.2 or
/// 1.3; the node's certificate and name are checked). Used by
/// `json_client` and by cxesdb-bench's load loop. The socket is
/// non-blocking once the session exists; every call returns at once.
/// Writes never raise SIGPIPE.
class tls_client_session {
public:
  /// What a read or write did (as gateway/tls.hpp's server side).
  enum class io { ok, want_read, want_write, closed, failed };

  /// Runs the handshake on `fd` (connected to `host`), waiting up to
  /// `timeout_ms`. Returns null and the reason in `err` (a certificate
  /// refused says why: expired, unknown CA, wrong name).
  static std::unique_ptr<tls_client_session>
  handshake(int fd, const tls_client_options& opts, const std::string& host,
            int timeout_ms, std::string& err);

  ~tls_client_session();

  tls_client_session(const tls_client_session&) = delete;
  tls_client_session& operator=(const tls_client_session&) = delete;

  /// Reads up to `max` plaintext bytes.
  io read(char* buf, size_t max, size_t& n);

  /// Writes up to `len` bytes (partial writes allowed). After want_read or
  /// want_write, call again with the same bytes first (the buffer may move).
  io write(const char* buf, size_t len, size_t& n);

  /// Plaintext buffered in OpenSSL, not yet returned by `read`.
  bool pending() const;

private:
  tls_client_session() = default;

  void* ctx_ = nullptr; ///< SSL_CTX*
  void* ssl_ = nullptr; ///< SSL*
};

} // namespace cxesdb::gateway
