#include "gateway/tls.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "actors/assert.hpp"

namespace cxesdb::gateway {

namespace {

/// OpenSSL's error queue as one line; empties the queue.
std::string openssl_errors() {
  std::string out;
  while (auto e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string{"unknown error"} : out;
}

SSL* ssl_of(void* p) {
  return static_cast<SSL*>(p);
}

} // namespace

std::shared_ptr<const tls_server_context>
tls_server_context::make(const tls_server_config& cfg, std::string& err) {
  ERR_clear_error();
  std::shared_ptr<tls_server_context> out{new tls_server_context};
  auto ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    err = "cannot make a TLS context: " + openssl_errors();
    return nullptr;
  }
  out->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                             | SSL_OP_IGNORE_UNEXPECTED_EOF
                             | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) {
    err = "cannot use the certificate " + cfg.cert_file + ": "
          + openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM)
      != 1) {
    bool mismatch = ERR_GET_REASON(ERR_peek_last_error())
                    == X509_R_KEY_VALUES_MISMATCH;
    err = "cannot use the private key " + cfg.key_file
          + (mismatch ? " (it does not match the certificate " + cfg.cert_file
                          + ")"
                      : std::string{})
          + ": " + openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    err = "the private key " + cfg.key_file + " does not match the "
          + "certificate " + cfg.cert_file + ": " + openssl_errors();
    return nullptr;
  }
  if (!cfg.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, cfg.client_ca_file.c_str(),
                                      nullptr)
        != 1) {
      err = "cannot use the client CA file " + cfg.client_ca_file + ": "
            + openssl_errors();
      return nullptr;
    }
    auto names = SSL_load_client_CA_file(cfg.client_ca_file.c_str());
    if (names == nullptr) {
      err = "no CA certificate in " + cfg.client_ca_file + ": "
            + openssl_errors();
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
    out->client_certs_ = true;
  }
  return out;
}

tls_server_context::~tls_server_context() {
  if (ctx_ != nullptr)
    SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

tls_stream::tls_stream(const tls_server_context& ctx, int fd) {
  auto ssl = SSL_new(static_cast<SSL_CTX*>(ctx.native()));
  // Fails only when out of memory.
  CXESDB_ASSERT(ssl != nullptr);
  CXESDB_ASSERT(SSL_set_fd(ssl, fd) == 1);
  SSL_set_accept_state(ssl);
  ssl_ = ssl;
}

tls_stream::~tls_stream() {
  SSL_free(ssl_of(ssl_));
}

tls_stream::io tls_stream::result(int rc, size_t& n) {
  auto ssl = ssl_of(ssl_);
  if (rc > 0) {
    n = static_cast<size_t>(rc);
    return io::ok;
  }
  n = 0;
  auto saved_errno = errno;
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      return io::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return io::closed;
    case SSL_ERROR_SYSCALL:
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK
          || saved_errno == EINTR) {
        ERR_clear_error();
        return io::want_read;
      }
      error_ = saved_errno != 0 ? std::strerror(saved_errno)
                                : std::string{"the peer went away"};
      ERR_clear_error();
      return io::failed;
    default:
      error_ = openssl_errors();
      return io::failed;
  }
}

tls_stream::io tls_stream::read(char* buf, size_t max, size_t& n) {
  CXESDB_ASSERT(max > 0);
  ERR_clear_error();
  errno = 0;
  auto len = static_cast<int>(std::min<size_t>(max, 1u << 30));
  return result(SSL_read(ssl_of(ssl_), buf, len), n);
}

tls_stream::io tls_stream::write(const char* buf, size_t len, size_t& n) {
  CXESDB_ASSERT(len > 0);
  ERR_clear_error();
  errno = 0;
  auto l = static_cast<int>(std::min<size_t>(len, 1u << 30));
  return result(SSL_write(ssl_of(ssl_), buf, l), n);
}

bool tls_stream::pending() const {
  return SSL_pending(ssl_of(ssl_)) > 0;
}

bool tls_stream::established() const {
  return SSL_is_init_finished(ssl_of(ssl_)) == 1;
}

void tls_stream::shutdown() {
  auto ssl = ssl_of(ssl_);
  if (SSL_is_init_finished(ssl) == 1)
    SSL_shutdown(ssl); // non-blocking socket: one try
  ERR_clear_error();
}

} // namespace cxesdb::gateway
