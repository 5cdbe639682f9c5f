#include "tests/integration/tun_switch.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <map>
#include <poll.h>
#include <sched.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace cxesdb::tests {

namespace {

using clock_type = std::chrono::steady_clock;

/// The largest packet a TUN device hands over (its MTU is 1500; GSO is off
/// without IFF_VNET_HDR).
constexpr size_t packet_bytes_max = 65536;

std::string errno_text() {
  return std::strerror(errno);
}

} // namespace

int open_tun(const std::string& netns, const std::string& name) {
  int fd = -1;
  std::string err;
  // setns changes the calling thread's namespace only: a thread of its own
  // enters the namespace, creates the device there and ends.
  std::thread t{[&] {
    if (!netns.empty()) {
      auto path = "/run/netns/" + netns;
      int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) {
        err = "cannot open " + path + ": " + errno_text();
        return;
      }
      auto rc = ::setns(ns, CLONE_NEWNET);
      ::close(ns);
      if (rc != 0) {
        err = "setns " + netns + ": " + errno_text();
        return;
      }
    }
    fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      err = "cannot open /dev/net/tun: " + errno_text();
      return;
    }
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
      err = "TUNSETIFF " + name + ": " + errno_text();
      ::close(fd);
      fd = -1;
    }
  }};
  t.join();
  if (fd < 0)
    throw std::runtime_error("open_tun: " + err);
  return fd;
}

tun_switch::~tun_switch() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    auto n = ::write(stop_fd_, &one, sizeof(one));
    (void) n;
    thread_.join();
  }
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
  for (auto& p : ports_)
    ::close(p.fd);
}

void tun_switch::add_port(int fd, uint8_t last_octet) {
  ports_.push_back({fd, last_octet});
}

void tun_switch::start() {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0)
    throw std::runtime_error("tun_switch: eventfd: " + errno_text());
  for (auto& p : ports_)
    ::fcntl(p.fd, F_SETFL, ::fcntl(p.fd, F_GETFL) | O_NONBLOCK);
  thread_ = std::thread{[this] { run(); }};
}

void tun_switch::set_delay(uint8_t from_octet, uint8_t to_octet,
                           std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> guard{mtx_};
  delay_ms_[from_octet * 256u + to_octet] = delay.count();
}

void tun_switch::run() {
  int port_of[256];
  for (auto& x : port_of)
    x = -1;
  for (size_t i = 0; i < ports_.size(); ++i)
    port_of[ports_[i].octet] = static_cast<int>(i);
  std::vector<pollfd> fds;
  for (auto& p : ports_)
    fds.push_back({p.fd, POLLIN, 0});
  fds.push_back({stop_fd_, POLLIN, 0});
  // Held packets by due time; equal times keep their arrival order, so a
  // link's packets are not reordered.
  std::multimap<clock_type::time_point, std::pair<int, std::vector<uint8_t>>>
    held;
  std::vector<uint8_t> buf(packet_bytes_max);
  for (;;) {
    int wait_ms = -1;
    if (!held.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        held.begin()->first - clock_type::now());
      wait_ms = left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
    }
    auto rc = ::poll(fds.data(), fds.size(), wait_ms);
    if (rc < 0 && errno != EINTR)
      return;
    if (fds.back().revents != 0)
      return;
    auto now = clock_type::now();
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0)
        continue;
      for (;;) {
        auto n = ::read(fds[i].fd, buf.data(), buf.size());
        if (n <= 0)
          break;
        // IPv4 only: version 4 in the first nibble, 20 header bytes.
        if (n < 20 || (buf[0] >> 4) != 4) {
          ++dropped_;
          continue;
        }
        int to = port_of[buf[19]];
        if (to < 0 || static_cast<size_t>(to) == i) {
          ++dropped_;
          continue;
        }
        int64_t delay_ms = 0;
        {
          std::lock_guard<std::mutex> guard{mtx_};
          delay_ms = delay_ms_[ports_[i].octet * 256u + buf[19]];
        }
        if (delay_ms == 0 && held.empty()) {
          auto w = ::write(ports_[to].fd, buf.data(), static_cast<size_t>(n));
          (w == n ? forwarded_ : dropped_)++;
          continue;
        }
        if (held.size() >= queued_packets_max) {
          ++dropped_;
          continue;
        }
        held.emplace(now + std::chrono::milliseconds{delay_ms},
                     std::make_pair(to, std::vector<uint8_t>(
                                          buf.begin(), buf.begin() + n)));
      }
    }
    now = clock_type::now();
    while (!held.empty() && held.begin()->first <= now) {
      auto& [to, pkt] = held.begin()->second;
      auto w = ::write(ports_[to].fd, pkt.data(), pkt.size());
      (w == static_cast<ssize_t>(pkt.size()) ? forwarded_ : dropped_)++;
      held.erase(held.begin());
    }
  }
}

} // namespace cxesdb::tests
