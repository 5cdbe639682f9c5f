#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace cxesdb::gateway {

/// The TLS settings of the client port (flags --tls-cert, --tls-key,
/// --tls-client-ca; protocol section 8).
struct tls_server_config {
  /// PEM file: the node's certificate, then any intermediates.
  std::string cert_file;
  /// PEM file: the certificate's private key (unencrypted).
  std::string key_file;
  /// PEM file of CA certificates; when set, every client must present a
  /// certificate signed by one of them.
  std::string client_ca_file;
};

/// A TLS server context made from a `tls_server_config`: TLS 1.2 and 1.3
/// only, no renegotiation, no compression, no session cache (its memory
/// would grow with the clients). Immutable once made; shared by every
/// connection of the client port. OpenSSL stays out of this header.
class tls_server_context {
public:
  /// Loads the files. Returns null and a text naming the file and what is
  /// wrong with it in `err`.
  static std::shared_ptr<const tls_server_context>
  make(const tls_server_config& cfg, std::string& err);

  ~tls_server_context();

  tls_server_context(const tls_server_context&) = delete;
  tls_server_context& operator=(const tls_server_context&) = delete;

  /// The OpenSSL `SSL_CTX*`.
  void* native() const noexcept {
    return ctx_;
  }

  /// Whether clients must present a certificate.
  bool requires_client_cert() const noexcept {
    return client_certs_;
  }

private:
  tls_server_context() = default;

  void* ctx_ = nullptr;
  bool client_certs_ = false;
};

/// The TLS side of one accepted, non-blocking socket: OpenSSL reads and
/// writes the descriptor itself, and every call returns at once, saying
/// what it waits for when it cannot go on. The handshake happens inside the
/// first reads and writes. OpenSSL buffers at most one record (16 KiB) each
/// way per connection.
class tls_stream {
public:
  /// What a read or write did.
  enum class io {
    /// Moved bytes (`n` of them).
    ok,
    /// Cannot go on until the socket is readable.
    want_read,
    /// Cannot go on until the socket is writable.
    want_write,
    /// The client ended its side (close_notify, or the end of the stream).
    closed,
    /// A TLS or socket error (a failed handshake, garbage, a reset): the
    /// connection is over.
    failed,
  };

  tls_stream(const tls_server_context& ctx, int fd);
  ~tls_stream();

  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  /// Reads up to `max` plaintext bytes into `buf`.
  io read(char* buf, size_t max, size_t& n);

  /// Writes up to `len` bytes of `buf` (partial writes allowed). After
  /// want_read or want_write, call it again with the same bytes at the
  /// start of `buf` (the buffer may move and may have grown).
  io write(const char* buf, size_t len, size_t& n);

  /// Plaintext OpenSSL holds that `read` has not returned yet.
  bool pending() const;

  /// Whether the handshake is complete.
  bool established() const;

  /// Sends close_notify if it can without waiting (best effort, before the
  /// socket is closed).
  void shutdown();

  /// What the last failed call ran into (OpenSSL's text), for logs.
  const std::string& error() const noexcept {
    return error_;
  }

private:
  io result(int rc, size_t& n);

  void* ssl_ = nullptr;
  std::string error_;
};

} // namespace cxesdb::gateway
