// The network-namespace harness (netns.hpp) on its own, without nodes: UDP
// datagrams between sockets opened inside the namespaces show which links
// carry packets. Needs root: exits 77 (meson: skipped) and says why
// otherwise.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/integration/netns.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// How long a datagram that should arrive may take.
constexpr int arrive_timeout_ms = 2000;

/// How long the test waits for a datagram that must not arrive.
constexpr int absent_wait_ms = 300;

/// A UDP socket bound to a node's address (or the host's), made in its
/// namespace.
struct udp_socket {
  int fd = -1;
  sockaddr_in addr{};

  udp_socket() = default;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket() {
    if (fd >= 0)
      ::close(fd);
  }

  void open(const std::string& ip) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw std::runtime_error("socket failed");
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("bind " + ip + ": " + std::strerror(errno));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  }

  /// Sends one datagram to `to`.
  void send_to(const udp_socket& to) const {
    char byte = 'x';
    ::sendto(fd, &byte, 1, 0, reinterpret_cast<const sockaddr*>(&to.addr),
             sizeof(to.addr));
  }

  /// Waits up to `timeout_ms` for a datagram; true when one came.
  bool receive(int timeout_ms) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      return false;
    char buf[64];
    return ::recv(fd, buf, sizeof(buf), 0) > 0;
  }
};

/// One socket per node, made in the node's namespace, and one on the host.
struct sockets {
  std::vector<std::unique_ptr<udp_socket>> node; // [0] unused
  udp_socket host;

  explicit sockets(netns_network& net) {
    node.resize(net.size() + 1);
    for (size_t i = 1; i <= net.size(); ++i) {
      node[i] = std::make_unique<udp_socket>();
      net.run_in(i, [&] { node[i]->open(net.address(i)); });
    }
    host.open(net.host_address());
  }

  /// True when a datagram from node `from` reaches node `to`.
  bool carries(size_t from, size_t to, int timeout_ms = arrive_timeout_ms) {
    node[from]->send_to(*node[to]);
    return node[to]->receive(timeout_ms);
  }
};

std::string namespaces() {
  return run_command("ip netns list");
}

} // namespace

TEST_CASE("every node reaches every other and the host, on the bridge and "
          "through the TUN switch") {
  for (auto mode : {link_mode::bridge, link_mode::tun}) {
    netns_network net{{3, mode}};
    INFO(net.describe());
    sockets s{net};
    for (size_t i = 1; i <= 3; ++i) {
      for (size_t j = 1; j <= 3; ++j)
        if (i != j)
          CHECK_MESSAGE(s.carries(i, j), "node" << i << " -> node" << j);
      s.host.send_to(*s.node[i]);
      CHECK_MESSAGE(s.node[i]->receive(arrive_timeout_ms), "host -> node" << i);
      s.node[i]->send_to(s.host);
      CHECK_MESSAGE(s.host.receive(arrive_timeout_ms), "node" << i << " -> host");
    }
  }
}

TEST_CASE("a block cuts one direction only; isolate cuts both ways to every "
          "node but not the host; heal restores all") {
  for (auto mode : {link_mode::bridge, link_mode::tun}) {
    netns_network net{{3, mode}};
    sockets s{net};
    net.block(1, 2);
    INFO(net.describe());
    CHECK_FALSE(s.carries(1, 2, absent_wait_ms));
    CHECK(net.dropped_packets() >= 1);
    CHECK(s.carries(2, 1));
    CHECK(s.carries(1, 3));
    net.unblock(1, 2);
    CHECK(net.dropped_packets() >= 1); // counted across the change
    CHECK(s.carries(1, 2));
    net.isolate(3);
    for (size_t i : {1, 2}) {
      CHECK_FALSE(s.carries(i, 3, absent_wait_ms));
      CHECK_FALSE(s.carries(3, i, absent_wait_ms));
    }
    CHECK(s.carries(1, 2));
    s.node[3]->send_to(s.host);
    CHECK(s.host.receive(arrive_timeout_ms));
    net.heal();
    CHECK(s.carries(1, 3));
    CHECK(s.carries(3, 2));
  }
}

TEST_CASE("a link with 100 % loss carries nothing, with 0 % everything") {
  netns_network net{{2, link_mode::bridge}};
  sockets s{net};
  net.set_loss(1, 2, 100);
  CHECK_FALSE(s.carries(1, 2, absent_wait_ms));
  CHECK(s.carries(2, 1));
  net.set_loss(1, 2, 0);
  CHECK(s.carries(1, 2));
  CHECK_THROWS_AS(net.set_loss(1, 2, 101), std::logic_error);
}

TEST_CASE("a delayed link holds each packet at least the delay, in one "
          "direction") {
  netns_network net{{2, link_mode::for_delay}};
  if (!netns_network::netem_available())
    std::cout << "note: no sch_netem in this kernel; the TUN switch delays"
              << std::endl;
  sockets s{net};
  net.set_delay(1, 2, 200ms);
  INFO(net.describe());
  auto sent_at = clock_type::now();
  REQUIRE(s.carries(1, 2));
  CHECK(clock_type::now() - sent_at >= 200ms);
  net.heal();
  CHECK(s.carries(1, 2));
  if (!netns_network::netem_available()) {
    netns_network bridge{{2, link_mode::bridge}};
    CHECK_THROWS_AS(bridge.set_delay(1, 2, 10ms), std::runtime_error);
  }
}

TEST_CASE("the network deletes its namespaces and host link; a dead run's "
          "namespaces are deleted by the next") {
  std::string first_ns, host_ns_link;
  {
    netns_network net{{2, link_mode::bridge}};
    first_ns = net.netns(1);
    CHECK(namespaces().find(first_ns) != std::string::npos);
  }
  CHECK(namespaces().find(first_ns) == std::string::npos);
  CHECK(run_command("ip -o link show").find(first_ns.substr(0, first_ns.size() - 3) + "h")
        == std::string::npos);
  // A namespace left by a process that no longer runs (the highest pid
  // Linux hands out is below 2^22).
  std::string stale = "cxnt4194304-1-n1";
  run_command("ip netns add " + stale);
  {
    netns_network net{{1, link_mode::tun}};
    CHECK(namespaces().find(stale) == std::string::npos);
  }
}

int main(int argc, char** argv) {
  if (auto why = netns_network::unsupported()) {
    std::cout << "skipped: " << *why << std::endl;
    return 77;
  }
  std::signal(SIGPIPE, SIG_IGN);
  doctest::Context ctx{argc, argv};
  return ctx.run();
}
