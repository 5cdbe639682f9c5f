#include "gateway/socket_server.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/assert.hpp"
#include "actors/log.hpp"
#include "gateway/tls.hpp"

namespace cxesdb::gateway {

using actors::log_warning;

/// How other threads wake the IO thread: an eventfd and the ids of the
/// connections with news. Shared by the server and every
/// `connection_output`, so the eventfd stays valid as long as anyone may
/// write to it, even after the server stopped.
struct server_wakeup {
  int fd = -1;
  std::mutex mtx;
  std::vector<uint64_t> ready; ///< connections with news, each once

  ~server_wakeup() {
    if (fd >= 0)
      ::close(fd);
  }

  /// Any thread: puts `id` on the list; the first entry of an empty list
  /// writes the eventfd (the IO thread empties the list after reading it,
  /// so no wakeup is lost and a burst of output costs one write).
  void notify(uint64_t id) {
    bool first;
    {
      std::lock_guard<std::mutex> guard{mtx};
      first = ready.empty();
      ready.push_back(id);
    }
    if (first) {
      uint64_t one = 1;
      // Fails only if the counter would overflow, which it cannot.
      auto r = ::write(fd, &one, sizeof(one));
      static_cast<void>(r);
    }
  }
};

// -- connection_output ---------------------------------------------------------

connection_output::connection_output(uint64_t id,
                                     std::shared_ptr<server_wakeup> wakeup)
  : id_(id), wakeup_(std::move(wakeup)) {
  // nop
}

void connection_output::notify_locked_(std::unique_lock<std::mutex>& guard) {
  if (queued_)
    return;
  queued_ = true;
  guard.unlock();
  wakeup_->notify(id_);
}

// Any thread (the connection's actor). Appends and wakes the IO thread; it
// never waits for the socket.
size_t connection_output::write(std::string text) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (closed_ || close_requested_)
    return 0;
  if (text.empty())
    return unsent_bytes_;
  unsent_bytes_ += text.size();
  if (pending_.empty())
    pending_ = std::move(text);
  else
    pending_ += text;
  auto unsent = unsent_bytes_;
  notify_locked_(guard);
  return unsent;
}

// Any thread (the connection's actor), once per message handed to
// `on_line`. The IO thread hears of it when there is output, or when it
// waits for the count to drop (reading stopped, or end of stream).
size_t connection_output::answered(std::string text) {
  std::unique_lock<std::mutex> guard{mtx_};
  CXESDB_ASSERT(inflight_ > 0 || closed_ || close_requested_);
  if (inflight_ > 0)
    --inflight_;
  if (closed_ || close_requested_)
    return 0;
  bool news = watched_;
  if (!text.empty()) {
    unsent_bytes_ += text.size();
    if (pending_.empty())
      pending_ = std::move(text);
    else
      pending_ += text;
    news = true;
  }
  auto unsent = unsent_bytes_;
  if (news)
    notify_locked_(guard);
  return unsent;
}

// Any thread (the connection's actor, when it stops).
void connection_output::close() {
  std::unique_lock<std::mutex> guard{mtx_};
  if (closed_ || close_requested_)
    return;
  close_requested_ = true;
  pending_ = std::string{};
  notify_locked_(guard);
}

// Any thread; in practice the IO thread, from a handler's on_line.
void connection_output::finish() {
  std::unique_lock<std::mutex> guard{mtx_};
  if (closed_ || close_requested_ || finish_requested_)
    return;
  finish_requested_ = true;
  notify_locked_(guard);
}

connection_handler::~connection_handler() {
  // nop
}

// -- the IO thread -----------------------------------------------------------------

namespace {

/// epoll tokens: connections are numbered from `first_connection_id`.
constexpr uint64_t listen_token = 0;
constexpr uint64_t wakeup_token = 1;
constexpr uint64_t first_connection_id = 2;

/// Events taken from one epoll_wait at most.
constexpr int epoll_events_max = 256;

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the text (maybe not in buf).
  return ::strerror_r(err, buf, sizeof(buf));
}

/// What the IO thread keeps of one client connection. Only the IO thread
/// touches it; what other threads write goes through `out`.
struct connection {
  uint64_t id = 0;
  int fd = -1;
  std::shared_ptr<connection_output> out;
  std::unique_ptr<connection_handler> handler;
  std::string frame;     ///< the start of a message whose end has not come
  bool skipping = false; ///< dropping the rest of an over-long message
  std::string wbuf;      ///< taken from `out`, being written
  size_t woff = 0;       ///< bytes of `wbuf` the kernel took
  bool halted = false;   ///< not read: too much in work or unread output
  bool eof = false;      ///< the client ended its side: no more reading
  bool finishing = false; ///< the handler asked to close once answered
  /// TLS ports only: the session, and what its last read or write waits
  /// for besides the obvious (a read that must write, a write that must
  /// read: handshake messages, key updates).
  std::unique_ptr<tls_stream> tls;
  bool read_wants_write = false;
  bool write_wants_read = false;
  bool closed = false;
  uint32_t events = 0;   ///< the epoll interest registered now
};

} // namespace

struct socket_server::impl {
  server_config cfg;
  handler_factory make_handler;
  std::string refusal;

  int listen_fd = -1;
  int epoll_fd = -1;
  std::shared_ptr<server_wakeup> wakeup;

  std::thread thread;
  std::atomic<bool> stopping{false};
  bool started = false;
  bool joined = false;

  // -- state of the IO thread -----------------------------------------------

  std::unordered_map<uint64_t, std::unique_ptr<connection>> conns;
  size_t open = 0; ///< connections whose socket is open
  uint64_t next_id = first_connection_id;
  std::vector<char> rbuf;
  std::vector<uint64_t> ready;  ///< taken from `wakeup`
  std::vector<uint64_t> dead;   ///< closed this turn, erased at its end
  bool accept_paused = false;
  std::chrono::steady_clock::time_point accept_resume;
  /// TLS: connections whose handshake must end by a deadline, in accept
  /// order (so in deadline order: the timeout is one for all).
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>>
    handshakes;

  ~impl() {
    if (listen_fd >= 0)
      ::close(listen_fd);
    if (epoll_fd >= 0)
      ::close(epoll_fd);
  }

  // -- setup (the starting thread) ------------------------------------------

  uint16_t listen(std::string& err) {
    CXESDB_ASSERT(listen_fd < 0);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    auto port_text = std::to_string(cfg.port);
    auto rc = ::getaddrinfo(cfg.bind.empty() ? nullptr : cfg.bind.c_str(),
                            port_text.c_str(), &hints, &res);
    if (rc != 0) {
      err = std::string{"cannot resolve: "} + ::gai_strerror(rc);
      return 0;
    }
    err = "no address";
    for (auto ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
      if (fd < 0) {
        err = "socket: " + errno_text(errno);
        continue;
      }
      int on = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = "bind: " + errno_text(errno);
        ::close(fd);
        continue;
      }
      if (::listen(fd, SOMAXCONN) != 0) {
        err = "listen: " + errno_text(errno);
        ::close(fd);
        continue;
      }
      listen_fd = fd;
      break;
    }
    ::freeaddrinfo(res);
    if (listen_fd < 0)
      return 0;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len)
        != 0) {
      err = "getsockname: " + errno_text(errno);
      return 0;
    }
    uint16_t port = 0;
    if (addr.ss_family == AF_INET)
      port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    else if (addr.ss_family == AF_INET6)
      port = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
      err = "epoll_create1: " + errno_text(errno);
      return 0;
    }
    wakeup = std::make_shared<server_wakeup>();
    wakeup->fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeup->fd < 0) {
      err = "eventfd: " + errno_text(errno);
      return 0;
    }
    if (!add(listen_fd, EPOLLIN, listen_token)
        || !add(wakeup->fd, EPOLLIN, wakeup_token)) {
      err = "epoll_ctl: " + errno_text(errno);
      return 0;
    }
    return port;
  }

  bool add(int fd, uint32_t events, uint64_t token) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    return ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  void modify(int fd, uint32_t events, uint64_t token) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    // Fails only for a descriptor not registered: a programmer error.
    CXESDB_ASSERT(::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0);
  }

  // -- the loop -------------------------------------------------------------

  void run() {
    rbuf.resize(server_config::read_chunk_bytes);
    epoll_event evs[epoll_events_max];
    while (!stopping.load(std::memory_order_acquire)) {
      int timeout_ms = -1;
      auto wait_until = [&](std::chrono::steady_clock::time_point t) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      t - std::chrono::steady_clock::now())
                      .count()
                    + 1;
        auto ms = left > 0 ? static_cast<int>(left) : 0;
        if (timeout_ms < 0 || ms < timeout_ms)
          timeout_ms = ms;
      };
      if (accept_paused)
        wait_until(accept_resume);
      if (!handshakes.empty())
        wait_until(handshakes.front().first);
      int n = ::epoll_wait(epoll_fd, evs, epoll_events_max, timeout_ms);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        // Only a bad epoll descriptor or bad arguments fail here.
        actors::log_error("the client port's epoll_wait failed: "
                          + errno_text(errno));
        std::abort();
      }
      for (int i = 0; i < n; ++i) {
        auto token = evs[i].data.u64;
        if (token == listen_token) {
          accept_some();
        } else if (token == wakeup_token) {
          uint64_t count;
          auto r = ::read(wakeup->fd, &count, sizeof(count));
          static_cast<void>(r); // EAGAIN: someone read it already
        } else {
          on_event(token, evs[i].events);
        }
      }
      if (accept_paused
          && std::chrono::steady_clock::now() >= accept_resume) {
        accept_paused = false;
        modify(listen_fd, EPOLLIN, listen_token);
      }
      expire_handshakes();
      // Cheap when empty (a lock and a swap): also catches output that this
      // thread queued itself (too_large answers).
      take_ready();
      bury();
    }
    shutdown_all();
  }

  /// TLS: closes the connections whose handshake did not end in time.
  void expire_handshakes() {
    if (handshakes.empty())
      return;
    auto now = std::chrono::steady_clock::now();
    while (!handshakes.empty() && handshakes.front().first <= now) {
      auto id = handshakes.front().second;
      handshakes.pop_front();
      auto i = conns.find(id);
      if (i == conns.end() || i->second->closed || !i->second->tls
          || i->second->tls->established())
        continue;
      close(*i->second);
    }
  }

  /// Copies the count of open connections to where the metrics read it
  /// (once per accept or close, never per request).
  void publish_open() {
    if (cfg.open_connections)
      cfg.open_connections->store(static_cast<int64_t>(open),
                                  std::memory_order_relaxed);
  }

  /// Erases the connections closed this turn (their objects may be in use
  /// until the turn ends).
  void bury() {
    for (auto id : dead)
      conns.erase(id);
    dead.clear();
  }

  // -- accepting ------------------------------------------------------------

  // The listening socket is readable. Accepts up to accepts_per_turn_max
  // connections; must not block (the socket is non-blocking).
  void accept_some() {
    for (size_t i = 0; i < server_config::accepts_per_turn_max; ++i) {
      int fd = ::accept4(listen_fd, nullptr, nullptr,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        auto err = errno;
        if (err == EINTR || err == ECONNABORTED || err == EPROTO)
          continue;
        if (err == EAGAIN || err == EWOULDBLOCK)
          return;
        // Out of descriptors or memory: the connection stays in the
        // backlog; try again after a pause instead of spinning on it.
        log_warning("cannot accept a client connection: " + errno_text(err)
                    + "; accepting pauses for "
                    + std::to_string(server_config::accept_pause_ms) + " ms");
        accept_paused = true;
        accept_resume = std::chrono::steady_clock::now()
                        + std::chrono::milliseconds{
                          server_config::accept_pause_ms};
        modify(listen_fd, 0, listen_token);
        return;
      }
      if (open >= cfg.connections_max) {
        if (cfg.tls) {
          ::close(fd); // no plain text on a TLS port
          continue;
        }
        refuse(fd);
        continue;
      }
      int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
      auto c = std::make_unique<connection>();
      c->id = next_id++;
      c->fd = fd;
      c->out = std::make_shared<connection_output>(c->id, wakeup);
      c->handler = make_handler(c->out);
      c->events = EPOLLIN;
      if (cfg.tls) {
        c->tls = std::make_unique<tls_stream>(*cfg.tls, fd);
        handshakes.emplace_back(
          std::chrono::steady_clock::now()
            + std::chrono::milliseconds{cfg.tls_handshake_timeout_ms},
          c->id);
      }
      if (!add(fd, EPOLLIN, c->id)) {
        log_warning("cannot watch a client connection: " + errno_text(errno));
        ::close(fd);
        c->handler->on_closed();
        continue;
      }
      ++open;
      publish_open();
      conns.emplace(c->id, std::move(c));
    }
  }

  /// A connection beyond connections_max: the refusal, then close. What the
  /// client sent already is read first, so that closing does not reset the
  /// connection before the client read the refusal.
  void refuse(int fd) {
    auto r = ::send(fd, refusal.data(), refusal.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    static_cast<void>(r); // a fresh socket takes a line; if not, it is gone
    ::shutdown(fd, SHUT_WR);
    for (int i = 0; i < 4 && ::recv(fd, rbuf.data(), rbuf.size(), 0) > 0; ++i)
      ; // nop
    ::close(fd);
  }

  // -- one connection ---------------------------------------------------------

  // epoll reported a client socket: read one chunk (or the end of stream),
  // write what is queued, then decide what to wait for. Never blocks: every
  // socket is non-blocking.
  void on_event(uint64_t id, uint32_t events) {
    auto i = conns.find(id);
    if (i == conns.end() || i->second->closed)
      return;
    auto& c = *i->second;
    // A TLS read may wait for the socket to be writable, a TLS write for it
    // to be readable.
    if ((events & EPOLLIN) || ((events & EPOLLOUT) && c.read_wants_write))
      read_some(c); // also at end of stream
    if (c.closed)
      return;
    if (events & (EPOLLERR | EPOLLHUP)) {
      // Reset, or both directions shut: nothing can reach the client.
      close(c);
      return;
    }
    if (((events & EPOLLOUT) || ((events & EPOLLIN) && c.write_wants_read))
        && !flush(c))
      return;
    refresh(c);
  }

  // One read of at most read_chunk_bytes; the rest waits for the next turn
  // (level-triggered), so one busy client cannot starve the others.
  void read_some(connection& c) {
    if (c.eof)
      return;
    if (c.tls) {
      read_tls(c);
      return;
    }
    auto n = ::recv(c.fd, rbuf.data(), rbuf.size(), 0);
    if (n > 0) {
      frame(c, rbuf.data(), static_cast<size_t>(n));
      return;
    }
    if (n == 0) {
      // The client half-closed (or closed): stop reading, write what is
      // still due (refresh closes once nothing is). An unterminated last
      // line is not a message.
      c.eof = true;
      c.frame = std::string{};
      c.skipping = false;
      return;
    }
    auto err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
      return;
    close(c);
  }

  /// A TLS connection: decrypts until the socket has nothing more or about
  /// read_chunk_bytes came (then the rest waits for the next turn, as for
  /// plain connections). It never stops while OpenSSL still holds
  /// plaintext: epoll could not tell that it is there.
  void read_tls(connection& c) {
    c.read_wants_write = false;
    size_t total = 0;
    for (;;) {
      size_t n = 0;
      auto r = c.tls->read(rbuf.data(), rbuf.size(), n);
      switch (r) {
        case tls_stream::io::ok:
          frame(c, rbuf.data(), n);
          total += n;
          if (total >= rbuf.size() && !c.tls->pending())
            return;
          continue;
        case tls_stream::io::want_read:
          return;
        case tls_stream::io::want_write:
          c.read_wants_write = true;
          return;
        case tls_stream::io::closed:
          // As a plain half-close: write what is due, then close.
          c.eof = true;
          c.frame = std::string{};
          c.skipping = false;
          return;
        case tls_stream::io::failed:
          // A failed handshake (plain text, a certificate refused) or a
          // broken session: nothing is answered, the node goes on.
          close(c);
          return;
      }
    }
  }

  /// Cuts bytes into messages (`\n`; a `\r` before it is dropped) and
  /// hands each to the handler. Only framing happens here; parsing is the
  /// handler's job.
  void frame(connection& c, const char* p, size_t n) {
    auto max = cfg.message_bytes_max;
    size_t start = 0;
    while (start < n) {
      auto nl = static_cast<const char*>(
        std::memchr(p + start, '\n', n - start));
      if (nl == nullptr) {
        if (!c.skipping) {
          c.frame.append(p + start, n - start);
          if (c.frame.size() > max + 1
              || (c.frame.size() == max + 1 && c.frame.back() != '\r')) {
            // Passed the limit before its end: answer at once, skip the
            // rest however long it is.
            c.handler->on_line_too_long();
            c.frame = std::string{};
            c.skipping = true;
          }
        }
        return;
      }
      auto len = static_cast<size_t>(nl - (p + start));
      if (c.skipping) {
        c.skipping = false;
      } else {
        // A "\r\n" ending does not count toward the limit.
        auto body = c.frame.size() + len;
        bool cr = body > 0
                  && (len > 0 ? p[start + len - 1] : c.frame.back()) == '\r';
        if (cr)
          --body;
        if (body > max) {
          c.handler->on_line_too_long();
          c.frame = std::string{};
        } else {
          c.frame.append(p + start, len);
          if (cr)
            c.frame.pop_back();
          dispatch(c);
        }
      }
      start += len + 1;
    }
  }

  void dispatch(connection& c) {
    std::string line;
    line.swap(c.frame);
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      return; // blank lines are keep-alives, not messages
    {
      std::lock_guard<std::mutex> guard{c.out->mtx_};
      ++c.out->inflight_;
    }
    c.handler->on_line(std::move(line));
  }

  /// Writes what the kernel takes now. Returns false if it closed the
  /// connection (the client is gone).
  bool flush(connection& c) {
    size_t written = 0;
    if (c.tls) {
      c.write_wants_read = false;
      while (c.woff < c.wbuf.size()) {
        size_t n = 0;
        auto r = c.tls->write(c.wbuf.data() + c.woff, c.wbuf.size() - c.woff,
                              n);
        if (r == tls_stream::io::ok) {
          c.woff += n;
          written += n;
          continue;
        }
        if (r == tls_stream::io::want_write)
          break;
        if (r == tls_stream::io::want_read) {
          c.write_wants_read = true;
          break;
        }
        close(c); // the session is broken: nobody reads any more
        return false;
      }
    }
    while (!c.tls && c.woff < c.wbuf.size()) {
      auto n = ::send(c.fd, c.wbuf.data() + c.woff, c.wbuf.size() - c.woff,
                      MSG_NOSIGNAL);
      if (n > 0) {
        c.woff += static_cast<size_t>(n);
        written += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      close(c); // EPIPE, ECONNRESET: nobody reads any more
      return false;
    }
    if (written > 0) {
      std::lock_guard<std::mutex> guard{c.out->mtx_};
      CXESDB_ASSERT(c.out->unsent_bytes_ >= written);
      c.out->unsent_bytes_ -= written;
    }
    if (c.woff == c.wbuf.size()) {
      c.woff = 0;
      if (c.wbuf.capacity() > server_config::idle_buffer_bytes_max)
        std::string{}.swap(c.wbuf);
      else
        c.wbuf.clear();
    }
    return true;
  }

  /// Decides whether to read (backpressure), whether to wait for the socket
  /// to take more output, and whether a half-closed connection is done.
  void refresh(connection& c) {
    size_t inflight;
    size_t unsent;
    {
      std::lock_guard<std::mutex> guard{c.out->mtx_};
      inflight = c.out->inflight_;
      unsent = c.out->unsent_bytes_;
      bool stop = inflight >= cfg.inflight_per_connection_max
                  || unsent > cfg.output_bytes_max;
      bool resume = inflight <= cfg.inflight_per_connection_max / 2
                    && unsent <= cfg.output_bytes_max / 2;
      if (!c.halted && stop)
        c.halted = true;
      else if (c.halted && resume)
        c.halted = false;
      // Answers matter to us even without output while we wait for them.
      c.out->watched_ = c.halted || c.eof;
    }
    if (c.eof && inflight == 0 && unsent == 0) {
      if (c.finishing) {
        // The client may still be sending: what it sent is read and
        // dropped first, so that closing does not reset the connection
        // before the client read the last answer.
        if (c.tls)
          c.tls->shutdown();
        ::shutdown(c.fd, SHUT_WR);
        for (int i = 0;
             i < 4 && ::recv(c.fd, rbuf.data(), rbuf.size(), MSG_DONTWAIT) > 0;
             ++i)
          ; // nop
      }
      close(c); // every answer due is written
      return;
    }
    uint32_t want = 0;
    if ((!c.halted && !c.eof) || c.write_wants_read)
      want |= EPOLLIN;
    if (c.woff < c.wbuf.size() || c.read_wants_write)
      want |= EPOLLOUT;
    if (want != c.events) {
      modify(c.fd, want, c.id);
      c.events = want;
    }
  }

  /// Moves the output other threads queued to the sockets' buffers and
  /// writes it; closes the connections whose owner asked.
  void take_ready() {
    {
      std::lock_guard<std::mutex> guard{wakeup->mtx};
      ready.swap(wakeup->ready);
    }
    for (auto id : ready) {
      auto i = conns.find(id);
      if (i == conns.end() || i->second->closed)
        continue;
      auto& c = *i->second;
      if (!take_output(c)) {
        close(c);
        continue;
      }
      if (flush(c))
        refresh(c);
    }
    ready.clear();
  }

  /// Appends what `c.out` holds to the write buffer. Returns false if the
  /// owner asked to close.
  bool take_output(connection& c) {
    std::lock_guard<std::mutex> guard{c.out->mtx_};
    c.out->queued_ = false;
    if (c.out->close_requested_)
      return false;
    if (c.out->finish_requested_ && !c.finishing) {
      // Read no more; refresh closes once every answer due is written.
      c.finishing = true;
      c.eof = true;
      c.frame = std::string{};
      c.skipping = false;
    }
    auto& pending = c.out->pending_;
    if (pending.empty())
      return true;
    if (c.woff == c.wbuf.size()) {
      // Swap, so the two buffers' capacity is reused turn after turn.
      c.wbuf.swap(pending);
      c.woff = 0;
    } else {
      if (c.woff > 0) {
        c.wbuf.erase(0, c.woff);
        c.woff = 0;
      }
      c.wbuf += pending;
    }
    if (pending.capacity() > server_config::idle_buffer_bytes_max)
      std::string{}.swap(pending);
    else
      pending.clear();
    return true;
  }

  /// Closes the socket and tells the handler; the object goes at the end of
  /// the turn.
  void close(connection& c) {
    if (c.closed)
      return;
    c.closed = true;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.tls) {
      c.tls->shutdown();
      c.tls.reset();
    }
    ::close(c.fd);
    c.fd = -1;
    {
      std::lock_guard<std::mutex> guard{c.out->mtx_};
      c.out->closed_ = true;
      c.out->pending_ = std::string{};
      c.out->unsent_bytes_ = 0;
    }
    c.wbuf = std::string{};
    c.frame = std::string{};
    c.handler->on_closed();
    CXESDB_ASSERT(open > 0);
    --open;
    publish_open();
    dead.push_back(c.id);
  }

  // The node stops: what is queued goes out as far as the kernel takes it
  // without waiting, then every socket closes.
  void shutdown_all() {
    take_ready();
    for (auto& [id, c] : conns) {
      if (c->closed)
        continue;
      if (take_output(*c))
        flush(*c); // closes on a write error; close() below is then a nop
      close(*c);
    }
    bury();
    CXESDB_ASSERT(open == 0);
    ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
    ::close(listen_fd);
    listen_fd = -1;
  }
};

// -- socket_server -------------------------------------------------------------

socket_server::socket_server(server_config cfg, handler_factory make_handler,
                             std::string refusal)
  : impl_(std::make_unique<impl>()) {
  impl_->cfg = std::move(cfg);
  impl_->make_handler = std::move(make_handler);
  impl_->refusal = std::move(refusal);
}

socket_server::~socket_server() {
  stop();
}

uint16_t socket_server::listen(std::string& err) {
  return impl_->listen(err);
}

void socket_server::start() {
  CXESDB_ASSERT(impl_->listen_fd >= 0 && !impl_->started);
  impl_->started = true;
  auto self = impl_.get();
  impl_->thread = std::thread{[self] {
    ::pthread_setname_np(::pthread_self(), "client-io");
    self->run();
  }};
}

void socket_server::stop() {
  if (!impl_->started || impl_->joined)
    return;
  impl_->stopping.store(true, std::memory_order_release);
  uint64_t one = 1;
  auto r = ::write(impl_->wakeup->fd, &one, sizeof(one));
  static_cast<void>(r);
  impl_->thread.join();
  impl_->joined = true;
}

} // namespace cxesdb::gateway
