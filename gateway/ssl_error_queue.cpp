// A fix for CAF 0.17.6's OpenSSL module (libcaf_openssl), linked into the
// node and the C++ client library.
//
// OpenSSL reports why an SSL_read, SSL_write, SSL_accept or SSL_connect did
// not complete through SSL_get_error, which reads the thread's error queue:
// the queue must be empty before the call, or a stale entry turns a plain
// "want read" into SSL_ERROR_SSL (SSL_get_error(3)). CAF's module never
// empties it. One failed handshake on the cluster or API port (plain TCP,
// garbage, a certificate of another CA) leaves entries on the middleman's
// thread, and the next healthy connection that has to wait for data is
// taken for broken and closed: with a stranger knocking every second, the
// nodes' connections dropped every second.
//
// So this file defines those four functions: each empties the calling
// thread's queue and calls OpenSSL's own (found with dlsym(RTLD_NEXT)).
// Symbols of the executable come first when the dynamic linker binds
// libcaf_openssl's calls, so CAF gets these. For any other caller, emptying
// the queue before an I/O call is what OpenSSL asks for anyway.

#include <dlfcn.h>

#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class Fn>
Fn next(const char* name) {
  auto f = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (f == nullptr)
    std::abort(); // libssl is linked: this cannot happen
  return f;
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"
