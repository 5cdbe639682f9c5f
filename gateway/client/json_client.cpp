#include "gateway/client/json_client.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>


namespace cxesdb::gateway {

namespace {

using clock_type = std::chrono::steady_clock;

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

/// Waits for `events` on `fd` until `deadline`. False on timeout or error.
bool wait_fd(int fd, short events, clock_type::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR)
      continue;
    return rc > 0;
  }
}

} // namespace

json_client::json_client(json_client&& other) noexcept
  : tls_(std::move(other.tls_)),
    token_(std::move(other.token_)),
    ssl_(std::move(other.ssl_)),
    fd_(other.fd_),
    next_id_(other.next_id_),
    buf_(std::move(other.buf_)),
    scanned_(other.scanned_),
    pending_(std::move(other.pending_)) {
  other.fd_ = -1;
}

json_client& json_client::operator=(json_client&& other) noexcept {
  if (this != &other) {
    close();
    tls_ = std::move(other.tls_);
    token_ = std::move(other.token_);
    ssl_ = std::move(other.ssl_);
    fd_ = other.fd_;
    next_id_ = other.next_id_;
    buf_ = std::move(other.buf_);
    scanned_ = other.scanned_;
    pending_ = std::move(other.pending_);
    other.fd_ = -1;
  }
  return *this;
}

json_client::~json_client() {
  close();
}

std::optional<std::string> json_client::connect(const std::string& host,
                                                uint16_t port, int timeout_ms) {
  close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port_str = std::to_string(port);
  if (auto rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res))
    return std::string{"cannot resolve "} + host + ": " + gai_strerror(rc);
  std::string err = "no address";
  for (auto ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      err = std::strerror(errno);
      continue;
    }
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int prc = ::poll(&p, 1, timeout_ms);
      if (prc == 1) {
        int so_err = 0;
        socklen_t len = sizeof(so_err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_err, &len);
        rc = so_err == 0 ? 0 : -1;
        errno = so_err;
      } else {
        errno = prc == 0 ? ETIMEDOUT : errno;
        rc = -1;
      }
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, flags);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      fd_ = fd;
      break;
    }
    err = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0)
    return "cannot connect to " + host + ":" + port_str + ": " + err;
  if (tls_) {
    if (auto e = start_tls(host, timeout_ms)) {
      close();
      return "TLS with " + host + ":" + port_str + " failed: " + *e;
    }
  }
  if (!token_.empty()) {
    auto resp = call("authenticate", {{"token", token_}}, timeout_ms);
    if (!resp) {
      close();
      return "no answer to authenticate from " + host + ":" + port_str;
    }
    if (!resp->contains("result")) {
      close();
      std::string why = "refused";
      if (auto e = resp->find("error"); e != resp->end() && e->is_object())
        why = e->value("message", why) + " ("
              + e->value("data", nlohmann::json::object())
                  .value("reason", "?")
              + ")";
      return "authentication with " + host + ":" + port_str
             + " failed: " + why;
    }
  }
  return std::nullopt;
}

std::optional<std::string> json_client::start_tls(const std::string& host,
                                                  int timeout_ms) {
  std::string err;
  ssl_ = tls_client_session::handshake(fd_, *tls_, host, timeout_ms, err);
  if (!ssl_)
    return err;
  return std::nullopt;
}

bool json_client::send_all(const char* data, size_t len) {
  size_t off = 0;
  if (ssl_) {
    while (fd_ >= 0 && off < len) {
      size_t n = 0;
      auto r = ssl_->write(data + off, len - off, n);
      if (r == tls_client_session::io::ok) {
        off += n;
        continue;
      }
      if (r == tls_client_session::io::want_write
          || r == tls_client_session::io::want_read) {
        // No deadline for sending, as for plain sockets (blocking send).
        wait_fd(fd_,
                r == tls_client_session::io::want_read ? POLLIN : POLLOUT,
                clock_type::now() + std::chrono::hours{24});
        continue;
      }
      close();
      return false;
    }
    return fd_ >= 0;
  }
  while (fd_ >= 0 && off < len) {
    auto n = ::send(fd_, data + off, len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      close();
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

long json_client::receive(char* buf, size_t max, int timeout_ms) {
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  if (ssl_) {
    for (;;) {
      size_t n = 0;
      auto r = ssl_->read(buf, max, n);
      if (r == tls_client_session::io::ok)
        return static_cast<long>(n);
      if (r == tls_client_session::io::want_read
          || r == tls_client_session::io::want_write) {
        if (!wait_fd(fd_,
                     r == tls_client_session::io::want_read ? POLLIN
                                                            : POLLOUT,
                     deadline))
          return -1;
        continue;
      }
      return 0; // closed, or a broken session
    }
  }
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return rc == 0 ? -1 : 0;
    auto n = ::recv(fd_, buf, max, 0);
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 ? 0 : static_cast<long>(n);
  }
}

void json_client::close() {
  ssl_.reset();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  buf_.clear();
  scanned_ = 0;
  pending_.clear();
}

bool json_client::send_raw(const std::string& bytes) {
  return send_all(bytes.data(), bytes.size());
}

bool json_client::send(const nlohmann::json& msg) {
  return send_raw(msg.dump() + "\n");
}

std::optional<std::string> json_client::read_line(int timeout_ms) {
  if (!pending_.empty()) {
    auto line = std::move(pending_.front());
    pending_.pop_front();
    return line;
  }
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    // Only the bytes that arrived since the last look can hold the newline.
    auto pos = buf_.find('\n', scanned_);
    if (pos != std::string::npos) {
      auto line = buf_.substr(0, pos);
      buf_.erase(0, pos + 1);
      scanned_ = 0;
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      return line;
    }
    scanned_ = buf_.size();
    if (buf_.size() > message_bytes_max) {
      close(); // the framing is lost
      return std::nullopt;
    }
    if (fd_ < 0)
      return std::nullopt;
    char tmp[65536];
    auto n = receive(tmp, sizeof(tmp), remaining_ms(deadline));
    if (n < 0)
      return std::nullopt; // timeout
    if (n == 0) {
      ssl_.reset();
      ::close(fd_);
      fd_ = -1;
      continue; // return what is buffered, then nothing
    }
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

std::optional<nlohmann::json> json_client::read_message(int timeout_ms) {
  auto line = read_line(timeout_ms);
  if (!line)
    return std::nullopt;
  auto j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded())
    return std::nullopt;
  return j;
}

std::optional<nlohmann::json> json_client::call(const std::string& method,
                                                nlohmann::json params,
                                                int timeout_ms) {
  auto id = next_id_++;
  nlohmann::json req{{"jsonrpc", "2.0"},
                     {"id", id},
                     {"method", method},
                     {"params", std::move(params)}};
  if (!send(req))
    return std::nullopt;
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  std::deque<std::string> parked;
  parked.swap(pending_); // read from the socket only, not what is parked
  auto restore = [&] {
    parked.insert(parked.end(), std::make_move_iterator(pending_.begin()),
                  std::make_move_iterator(pending_.end()));
    pending_.swap(parked);
    while (pending_.size() > pending_messages_max)
      pending_.pop_front();
  };
  for (;;) {
    auto line = read_line(remaining_ms(deadline));
    if (!line) {
      restore();
      return std::nullopt;
    }
    auto j = nlohmann::json::parse(*line, nullptr, false);
    if (j.is_object() && j.contains("id") && j["id"] == id) {
      restore();
      return j;
    }
    parked.push_back(std::move(*line));
  }
}

} // namespace cxesdb::gateway
