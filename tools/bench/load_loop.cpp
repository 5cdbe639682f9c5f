#include "tools/bench/load_loop.hpp"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "gateway/client/tls_client.hpp"

namespace cxesdb::tools {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

namespace {

/// Bytes read per recv call.
constexpr size_t read_chunk_bytes = 64 * 1024;

/// Events per epoll_wait call.
constexpr int epoll_events_max = 256;

/// One client connection of the loop.
struct connection {
  int fd = -1;
  bool connected = false;
  bool dead = false;
  bool starved = false; // waiting for rate budget
  int64_t connect_started_ns = 0;
  std::string out;
  size_t out_offset = 0;
  std::string in;
  size_t in_offset = 0;
  std::vector<request_slot> inflight;
  /// The endpoint this connection goes to.
  size_t endpoint = 0;
  /// --tls-*: the session, made when the connection is established.
  std::unique_ptr<gateway::tls_client_session> tls;
};

/// `send` through TLS when the connection has it; EAGAIN when TLS waits.
ssize_t conn_send(connection& c, const char* p, size_t n) {
  if (!c.tls)
    return ::send(c.fd, p, n, MSG_NOSIGNAL);
  size_t put = 0;
  using io = gateway::tls_client_session::io;
  auto r = c.tls->write(p, n, put);
  if (r == io::ok)
    return static_cast<ssize_t>(put);
  errno = r == io::want_read || r == io::want_write ? EAGAIN : ECONNRESET;
  return -1;
}

/// `recv` through TLS when the connection has it (0: closed).
ssize_t conn_recv(connection& c, char* p, size_t n) {
  if (!c.tls)
    return ::recv(c.fd, p, n, 0);
  size_t got = 0;
  using io = gateway::tls_client_session::io;
  auto r = c.tls->read(p, n, got);
  if (r == io::ok)
    return static_cast<ssize_t>(got);
  if (r == io::closed)
    return 0;
  errno = r == io::want_read || r == io::want_write ? EAGAIN : ECONNRESET;
  return -1;
}

/// Resolves host:port to an IPv4/IPv6 address; false on failure.
bool resolve(const endpoint& ep, sockaddr_storage& addr, socklen_t& len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port = std::to_string(ep.port);
  if (getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return false;
  std::memcpy(&addr, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

/// The loop's state; one instance per run_load call.
class loop {
public:
  loop(const load_options& opts, workload& w) : opts_(opts), w_(w) {
    want_version_ = w.want_version();
  }

  ~loop() {
    for (auto& c : conns_)
      if (c.fd >= 0)
        ::close(c.fd);
    if (ep_ >= 0)
      ::close(ep_);
  }

  load_result run();

private:
  bool in_window(int64_t t) const {
    return t >= window_start_ns_ && t < end_ns_;
  }

  void count_error(const std::string& r, int64_t t, uint64_t n = 1) {
    // Transport errors count even outside the window: they fail the run.
    if (in_window(t) || r == reason::transport)
      result_.stats.errors[r] += n;
    interval_errors_ += n;
  }

  void fail(size_t i, const char* why) {
    auto& c = conns_[i];
    if (c.dead)
      return;
    auto t = now_ns();
    if (failures_printed_ < failures_printed_max) {
      std::fprintf(stderr, "cxesdb-bench: connection %zu: %s\n", i, why);
      ++failures_printed_;
    }
    // The connection and every request on it are lost.
    count_error(reason::transport, t, 1 + c.inflight.size());
    for (auto& s : c.inflight)
      w_.on_lost(i, s);
    c.inflight.clear();
    c.dead = true;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    c.tls.reset();
    ::close(c.fd);
    c.fd = -1;
    ++result_.connections_failed;
  }

  bool rate_allows(uint64_t events) const {
    if (opts_.rate_events_per_s <= 0)
      return true;
    double elapsed_s = (now_ns() - start_ns_) / 1e9;
    // A small burst allowance keeps the rate smooth at low rates.
    double allowed = opts_.rate_events_per_s * elapsed_s + 1;
    return static_cast<double>(events_sent_ + events) <= allowed;
  }

  void fill(size_t i) {
    auto& c = conns_[i];
    if (c.dead || !c.connected || stopping_)
      return;
    bool added = false;
    while (c.inflight.size() < opts_.pipeline) {
      if (opts_.rate_events_per_s > 0 && !rate_allows(1)) {
        if (!c.starved) {
          c.starved = true;
          starved_.push_back(i);
        }
        break;
      }
      request_slot slot;
      slot.id = next_id_++;
      if (!w_.next_request(i, slot.id, c.out, slot))
        break;
      slot.sent_ns = now_ns();
      events_sent_ += slot.events;
      c.inflight.push_back(slot);
      added = true;
    }
    if (added)
      flush(i);
  }

  void flush(size_t i) {
    auto& c = conns_[i];
    while (c.out_offset < c.out.size()) {
      auto n = conn_send(c, c.out.data() + c.out_offset,
                         c.out.size() - c.out_offset);
      if (n > 0) {
        c.out_offset += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return; // EPOLLOUT resumes it
      } else {
        fail(i, std::strerror(errno));
        return;
      }
    }
    c.out.clear();
    c.out_offset = 0;
  }

  void on_readable(size_t i) {
    auto& c = conns_[i];
    for (;;) {
      auto old = c.in.size();
      c.in.resize(old + read_chunk_bytes);
      auto n = conn_recv(c, c.in.data() + old, read_chunk_bytes);
      if (n > 0) {
        c.in.resize(old + static_cast<size_t>(n));
        process_lines(i);
        if (c.dead)
          return;
        continue;
      }
      c.in.resize(old);
      if (n == 0) {
        fail(i, "closed by the node");
        return;
      }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      fail(i, std::strerror(errno));
      return;
    }
    fill(i);
  }

  void process_lines(size_t i) {
    auto& c = conns_[i];
    for (;;) {
      auto nl = c.in.find('\n', c.in_offset);
      if (nl == std::string::npos)
        break;
      std::string_view line(c.in.data() + c.in_offset, nl - c.in_offset);
      c.in_offset = nl + 1;
      on_message(i, line);
    }
    if (c.in_offset == c.in.size()) {
      c.in.clear();
      c.in_offset = 0;
    } else if (c.in_offset > read_chunk_bytes) {
      c.in.erase(0, c.in_offset);
      c.in_offset = 0;
    }
  }

  void on_message(size_t i, std::string_view line) {
    auto& c = conns_[i];
    auto t = now_ns();
    auto r = scan_response(line, want_version_);
    if (r.malformed || !r.has_id) {
      if (!r.is_notification)
        count_error(reason::malformed, t);
      return;
    }
    auto it = std::find_if(c.inflight.begin(), c.inflight.end(),
                           [&](const request_slot& s) { return static_cast<int64_t>(s.id) == r.id; });
    if (it == c.inflight.end())
      return; // answered after its client-side timeout
    auto slot = *it;
    *it = c.inflight.back();
    c.inflight.pop_back();
    w_.on_response(i, slot, r, t);
    if (r.is_error) {
      count_error(r.reason.empty() ? std::string{reason::malformed}
                                   : std::string{r.reason},
                  t);
      return;
    }
    auto latency = static_cast<uint64_t>(std::max<int64_t>(0, t - slot.sent_ns));
    ++interval_requests_;
    interval_events_ += slot.events;
    interval_latency_.record(latency);
    if (in_window(t)) {
      ++result_.stats.requests_ok;
      result_.stats.events_ok += slot.events;
      result_.stats.latency.record(latency);
    }
  }

  void on_connected(size_t i) {
    auto& c = conns_[i];
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(i, std::strerror(err));
      return;
    }
    if (!secure(i))
      return;
    c.connected = true;
    ++connected_count_;
    fill(i);
  }

  /// --tls-* and --token: the TLS handshake and `authenticate` of a
  /// connection just established, run to the end before its first request
  /// (the loop waits on this one socket meanwhile: connections start in
  /// the warm-up). False when it failed (the connection is then dead).
  bool secure(size_t i) {
    auto& c = conns_[i];
    auto& sec = opts_.security;
    auto& ep = opts_.endpoints[c.endpoint];
    auto timeout_ms = static_cast<int>(opts_.connect_timeout_ms);
    if (sec.tls) {
      std::string err;
      c.tls = gateway::tls_client_session::handshake(c.fd, *sec.tls, ep.host,
                                                     timeout_ms, err);
      if (!c.tls) {
        fail(i, ("TLS: " + err).c_str());
        return false;
      }
    }
    if (sec.token.empty())
      return true;
    std::string line = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":"
                       "\"authenticate\",\"params\":{\"token\":"
                       + nlohmann::json(sec.token).dump() + "}}\n";
    auto deadline = now_ns() + opts_.connect_timeout_ms * 1000000;
    auto wait = [&](short events) {
      auto left_ms = (deadline - now_ns()) / 1000000;
      pollfd p{c.fd, events, 0};
      return left_ms > 0 && ::poll(&p, 1, static_cast<int>(left_ms)) > 0;
    };
    for (size_t off = 0; off < line.size();) {
      auto n = conn_send(c, line.data() + off, line.size() - off);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLOUT | POLLIN)) {
          fail(i, "authenticate: no answer in time");
          return false;
        }
      } else {
        fail(i, "authenticate: the node closed the connection");
        return false;
      }
    }
    std::string answer;
    char buf[4096];
    while (answer.find('\n') == std::string::npos) {
      auto n = conn_recv(c, buf, sizeof(buf));
      if (n > 0) {
        answer.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!wait(POLLIN)) {
          fail(i, "authenticate: no answer in time");
          return false;
        }
      } else {
        fail(i, "authenticate: the node closed the connection");
        return false;
      }
    }
    auto nl = answer.find('\n');
    auto resp = nlohmann::json::parse(answer.substr(0, nl), nullptr, false);
    if (!resp.is_object() || !resp.contains("result")) {
      fail(i, "authenticate refused (unauthorized)");
      return false;
    }
    c.in.assign(answer, nl + 1, std::string::npos);
    return true;
  }

  void open_all();
  void tick(int64_t t);

  const load_options& opts_;
  workload& w_;
  bool want_version_ = false;
  int ep_ = -1;
  std::vector<connection> conns_;
  std::vector<size_t> starved_;
  uint64_t next_id_ = 1;
  uint64_t events_sent_ = 0;
  bool stopping_ = false;
  size_t connected_count_ = 0;
  static constexpr int failures_printed_max = 10;
  int failures_printed_ = 0;

  int64_t start_ns_ = 0;
  int64_t window_start_ns_ = 0;
  int64_t end_ns_ = 0;
  int64_t next_tick_ns_ = 0;
  bool window_started_ = false;
  cpu_times cpu_at_window_;
  std::optional<cpu_times> node_cpu_at_window_;

  uint64_t interval_requests_ = 0;
  uint64_t interval_events_ = 0;
  uint64_t interval_errors_ = 0;
  uint64_t total_errors_ = 0;
  histogram interval_latency_;

  load_result result_;
};

void loop::open_all() {
  std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
  for (auto& e : opts_.endpoints) {
    sockaddr_storage a{};
    socklen_t len = 0;
    if (!resolve(e, a, len)) {
      std::fprintf(stderr, "cxesdb-bench: cannot resolve %s\n",
                   e.host.c_str());
      len = 0;
    }
    addrs.emplace_back(a, len);
  }
  conns_.resize(opts_.clients);
  for (size_t i = 0; i < conns_.size(); ++i) {
    auto& c = conns_[i];
    c.inflight.reserve(opts_.pipeline);
    auto& [addr, len] = addrs[i % addrs.size()];
    c.endpoint = i % addrs.size();
    c.connect_started_ns = now_ns();
    if (len == 0) {
      c.dead = true;
      count_error(reason::transport, now_ns());
      ++result_.connections_failed;
      continue;
    }
    c.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (c.fd < 0) {
      fail(i, std::strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = i;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), len) < 0
        && errno != EINPROGRESS)
      fail(i, std::strerror(errno));
  }
}

void loop::tick(int64_t t) {
  if (!window_started_ && t >= window_start_ns_) {
    window_started_ = true;
    cpu_at_window_ = self_cpu();
    if (opts_.node_pid)
      node_cpu_at_window_ = proc_cpu(*opts_.node_pid);
  }
  // Client-side timeouts and slow connects.
  auto timeout_ns = opts_.timeout_ms * 1000000;
  for (size_t i = 0; i < conns_.size(); ++i) {
    auto& c = conns_[i];
    if (c.dead)
      continue;
    if (!c.connected) {
      if (t - c.connect_started_ns > opts_.connect_timeout_ms * 1000000)
        fail(i, "connect timed out");
      continue;
    }
    size_t before = c.inflight.size();
    c.inflight.erase(std::remove_if(c.inflight.begin(), c.inflight.end(),
                                    [&](const request_slot& s) {
                                      if (t - s.sent_ns <= timeout_ns)
                                        return false;
                                      w_.on_lost(i, s);
                                      return true;
                                    }),
                     c.inflight.end());
    if (c.inflight.size() != before) {
      count_error(reason::client_timeout, t, before - c.inflight.size());
      fill(i);
    }
  }
  if (opts_.progress) {
    total_errors_ += interval_errors_;
    double elapsed = (t - start_ns_) / 1e9;
    std::fprintf(stderr,
                 "[%3.0fs] %8.0f ev/s  %8.0f req/s  p99 %.1f ms  errors "
                 "%llu%s\n",
                 elapsed, static_cast<double>(interval_events_),
                 static_cast<double>(interval_requests_),
                 ns_to_ms(interval_latency_.quantile_ns(0.99)),
                 static_cast<unsigned long long>(total_errors_),
                 // The interval just ended lay (mostly) in the warm-up.
                 t < window_start_ns_ + 500000000 ? "  (warm-up)" : "");
  }
  interval_requests_ = 0;
  interval_events_ = 0;
  interval_errors_ = 0;
  interval_latency_.reset();
}

load_result loop::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::perror("epoll_create1");
    result_.stats.errors[reason::transport] += 1;
    return result_;
  }
  start_ns_ = now_ns();
  window_start_ns_ = start_ns_ + static_cast<int64_t>(opts_.warmup_s * 1e9);
  end_ns_ = window_start_ns_ + static_cast<int64_t>(opts_.duration_s * 1e9);
  next_tick_ns_ = start_ns_ + 1000000000;
  if (window_start_ns_ == start_ns_) {
    window_started_ = true;
    cpu_at_window_ = self_cpu();
    if (opts_.node_pid)
      node_cpu_at_window_ = proc_cpu(*opts_.node_pid);
  }
  open_all();
  std::vector<epoll_event> events(epoll_events_max);
  // With a rate limit the loop wakes every millisecond to hand out budget.
  int wait_ms = opts_.rate_events_per_s > 0 ? 1 : 50;
  for (;;) {
    auto t = now_ns();
    if (t >= end_ns_)
      break;
    if (result_.connections_failed == conns_.size())
      break; // nothing left to drive
    if (t >= next_tick_ns_) {
      tick(t);
      next_tick_ns_ += 1000000000;
    }
    if (!starved_.empty()) {
      auto waiting = std::move(starved_);
      starved_.clear();
      for (auto i : waiting) {
        conns_[i].starved = false;
        fill(i);
      }
    }
    int n = epoll_wait(ep_, events.data(), epoll_events_max, wait_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("epoll_wait");
      break;
    }
    for (int k = 0; k < n; ++k) {
      auto i = static_cast<size_t>(events[k].data.u64);
      auto& c = conns_[i];
      if (c.dead)
        continue;
      auto e = events[k].events;
      if (!c.connected) {
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
          on_connected(i);
        if (c.dead || !c.connected)
          continue;
      }
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(i);
      if (!c.dead && (e & EPOLLOUT) && c.out_offset < c.out.size())
        flush(i);
    }
  }
  stopping_ = true;
  auto t_end = now_ns();
  result_.measured_s
    = std::max<double>(0, (std::min(t_end, end_ns_) - window_start_ns_) / 1e9);
  auto cpu = self_cpu();
  result_.self_cpu = {cpu.user_s - cpu_at_window_.user_s,
                      cpu.sys_s - cpu_at_window_.sys_s};
  if (opts_.node_pid && node_cpu_at_window_) {
    if (auto now = proc_cpu(*opts_.node_pid))
      result_.node_cpu = cpu_times{now->user_s - node_cpu_at_window_->user_s,
                                   now->sys_s - node_cpu_at_window_->sys_s};
  }
  return result_;
}

} // namespace

load_result run_load(const load_options& opts, workload& w) {
  assert(!opts.endpoints.empty());
  assert(opts.clients >= 1 && opts.pipeline >= 1);
  loop l(opts, w);
  return l.run();
}

} // namespace cxesdb::tools
