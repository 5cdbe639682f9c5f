#include "gateway/client/tls_client.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace cxesdb::gateway {

namespace {

using clock_type = std::chrono::steady_clock;

SSL* ssl_of(void* p) {
  return static_cast<SSL*>(p);
}

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

/// A socket BIO that writes with MSG_NOSIGNAL: a node that went away is an
/// error, not a SIGPIPE that kills the client's process.
int nosigpipe_write(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  errno = 0;
  auto n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n)))
    BIO_set_retry_write(b);
  return static_cast<int>(n);
}

BIO_METHOD* nosigpipe_socket() {
  static BIO_METHOD* m = [] {
    auto base = BIO_s_socket();
    auto meth = BIO_meth_new(BIO_TYPE_SOCKET, "socket without SIGPIPE");
    BIO_meth_set_write(meth, nosigpipe_write);
    BIO_meth_set_read(meth, BIO_meth_get_read(base));
    BIO_meth_set_puts(meth, BIO_meth_get_puts(base));
    BIO_meth_set_ctrl(meth, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(meth, BIO_meth_get_create(base));
    BIO_meth_set_destroy(meth, BIO_meth_get_destroy(base));
    return meth;
  }();
  return m;
}

/// Waits for `events` on `fd` until `deadline`. False on timeout or error.
bool wait_fd(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock_type::now())
                  .count();
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, left < 0 ? 0 : static_cast<int>(left));
    if (rc < 0 && errno == EINTR)
      continue;
    return rc > 0;
  }
}

} // namespace

std::unique_ptr<tls_client_session>
tls_client_session::handshake(int fd, const tls_client_options& o,
                              const std::string& host, int timeout_ms,
                              std::string& err) {
  ERR_clear_error();
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  std::unique_ptr<tls_client_session> t{new tls_client_session};
  auto ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    err = "cannot make a TLS context: " + openssl_errors();
    return nullptr;
  }
  t->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (o.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      err = "cannot load the system's CA certificates: " + openssl_errors();
      return nullptr;
    }
  } else if (SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr)
             != 1) {
    err = "cannot use the CA file " + o.ca_file + ": " + openssl_errors();
    return nullptr;
  }
  if (!o.cert_file.empty() || !o.key_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
      err = "cannot use the certificate " + o.cert_file + ": "
            + openssl_errors();
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM)
        != 1) {
      err = "cannot use the private key " + o.key_file + ": "
            + openssl_errors();
      return nullptr;
    }
  }
  auto ssl = SSL_new(ctx);
  if (ssl == nullptr) {
    err = "cannot make a TLS session: " + openssl_errors();
    return nullptr;
  }
  t->ssl_ = ssl;
  auto bio = BIO_new(nosigpipe_socket());
  if (bio == nullptr) {
    err = "cannot make a socket BIO: " + openssl_errors();
    return nullptr;
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);
  // The node's certificate must name the server: a DNS name (also sent as
  // SNI) or an IP address.
  auto name = o.server_name.empty() ? host : o.server_name;
  auto param = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
    ERR_clear_error();
    SSL_set_tlsext_host_name(ssl, name.c_str());
    if (SSL_set1_host(ssl, name.c_str()) != 1) {
      err = "cannot check the name " + name + ": " + openssl_errors();
      return nullptr;
    }
  }
  int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    ERR_clear_error();
    auto rc = SSL_connect(ssl);
    if (rc == 1)
      return t;
    auto e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                   deadline)) {
        err = "the handshake did not end in time";
        return nullptr;
      }
      continue;
    }
    auto verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      err = std::string{"the node's certificate: "}
            + X509_verify_cert_error_string(verify);
      return nullptr;
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      err = "the node closed the connection during the handshake";
      return nullptr;
    }
    err = openssl_errors();
    return nullptr;
  }
}

tls_client_session::~tls_client_session() {
  if (ssl_ != nullptr)
    SSL_free(ssl_of(ssl_));
  if (ctx_ != nullptr)
    SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

namespace {

tls_client_session::io result_of(SSL* ssl, int rc, size_t& n) {
  using io = tls_client_session::io;
  if (rc > 0) {
    n = static_cast<size_t>(rc);
    return io::ok;
  }
  n = 0;
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      return io::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return io::closed;
    default:
      ERR_clear_error();
      return io::failed;
  }
}

} // namespace

tls_client_session::io tls_client_session::read(char* buf, size_t max,
                                                size_t& n) {
  ERR_clear_error();
  auto len = static_cast<int>(std::min<size_t>(max, 1u << 30));
  return result_of(ssl_of(ssl_), SSL_read(ssl_of(ssl_), buf, len), n);
}

tls_client_session::io tls_client_session::write(const char* buf, size_t len,
                                                 size_t& n) {
  ERR_clear_error();
  auto l = static_cast<int>(std::min<size_t>(len, 1u << 30));
  return result_of(ssl_of(ssl_), SSL_write(ssl_of(ssl_), buf, l), n);
}

bool tls_client_session::pending() const {
  return SSL_pending(ssl_of(ssl_)) > 0;
}

} // namespace cxesdb::gateway
