#pragma once

// Network namespaces for the partition suite: each node of a cluster in a
// namespace of its own, on a private /24, with links the test can cut (in
// either direction), make lossy and slow. docs/testing.md describes it.
// Needs root, `ip` (iproute2) and `nft` (nftables).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cxesdb::tests {

class tun_switch;

/// How the namespaces are linked.
enum class link_mode {
  /// A veth pair per namespace on a Linux bridge in a namespace of its own
  /// (the hub). Delay needs `tc netem` (the kernel's sch_netem).
  bridge,
  /// A TUN device per namespace; the test process forwards the packets
  /// (tun_switch.hpp) and can delay them. For kernels without sch_netem.
  tun,
  /// `bridge` where `tc netem` works, else `tun`.
  for_delay,
};

/// How to build a `netns_network`.
struct netns_options {
  /// Namespaces, one per node, numbered from 1.
  size_t nodes = 3;

  link_mode links = link_mode::bridge;
};

/// A private network of `nodes` namespaces. Node `i` has the address
/// `10.A.B.i` on the /24 the constructor picks (one no route of this host
/// uses yet); the test process, in the host's namespace, reaches every node
/// through its own interface at `10.A.B.254` (that link is never cut).
///
/// Links between nodes are cut, made lossy (nftables rules in the sending
/// namespace's output hook: `ip daddr X drop`, `numgen random` for loss) and
/// slowed (netem on the bridge, the switch's queue on TUN) per direction.
///
/// Names hold the test's pid (`cxnt<pid>-<k>-n<i>`, `cxnt<pid>-<k>-hub`), so
/// parallel runs never collide; the destructor deletes every namespace it
/// made (their interfaces and rules go with them), and the constructor first
/// deletes those of earlier runs whose process is gone (a run killed by a
/// timeout). Stop the processes running in the namespaces first (a
/// `cluster` declared after the network is destroyed before it).
///
/// Not thread-safe: drive it from the test's main thread.
class netns_network {
public:
  /// Why this process cannot build the network (not root, `ip` or `nft`
  /// missing, namespaces refused), or nothing when it can. Tests skip with
  /// this message.
  static std::optional<std::string> unsupported();

  /// True when `tc qdisc ... netem` works on this kernel (probed once, in a
  /// scratch namespace).
  static bool netem_available();

  /// Builds the namespaces and links. Throws std::runtime_error (with the
  /// failing command's output) when a command fails; what was made is
  /// deleted.
  explicit netns_network(netns_options opts = {});

  netns_network(const netns_network&) = delete;
  netns_network& operator=(const netns_network&) = delete;

  ~netns_network();

  size_t size() const noexcept {
    return opts_.nodes;
  }

  /// How the namespaces are linked (never `for_delay`).
  link_mode links() const noexcept {
    return mode_;
  }

  /// The namespace of node `i` (1-based), as `ip netns` names it.
  std::string netns(size_t i) const;

  /// Node `i`'s address.
  std::string address(size_t i) const;

  /// The host's address on the network.
  std::string host_address() const;

  /// Drops every packet node `from` sends to node `to` (one direction).
  void block(size_t from, size_t to);

  /// Undoes `block(from, to)`.
  void unblock(size_t from, size_t to);

  /// Blocks both directions between node `i` and every other node.
  void isolate(size_t i);

  /// Blocks both directions between every node of `a` and every node of
  /// `b`.
  void partition(const std::vector<size_t>& a, const std::vector<size_t>& b);

  /// Drops `percent` (0..100) of the packets node `from` sends to node `to`,
  /// at random.
  void set_loss(size_t from, size_t to, int percent);

  /// Holds every packet node `from` sends to node `to` for `delay`. On the
  /// bridge (netem) the delay is per sending node: the last `set_delay` of
  /// `from` applies to all it sends, the host included. Throws
  /// std::runtime_error when the links cannot delay (bridge without netem).
  void set_delay(size_t from, size_t to, std::chrono::milliseconds delay);

  /// Loss and delay on every link between two nodes, both directions.
  void degrade_all(int loss_percent, std::chrono::milliseconds delay);

  /// Removes every block, loss and delay.
  void heal();

  /// Packets the rules have dropped so far (cuts and loss, every node), for
  /// the test's log.
  uint64_t dropped_packets() const;

  /// The rules in force, one line per cut or degraded link, for failure
  /// messages.
  std::string describe() const;

  /// Runs `fn` on a thread of its own inside node `i`'s namespace and waits
  /// for it (e.g. to open a socket there). Rethrows what `fn` throws.
  void run_in(size_t i, const std::function<void()>& fn) const;

private:
  void check_index(size_t i) const;
  void apply_rules(size_t i);
  uint64_t count_dropped(size_t i) const;
  void build_bridge();
  void build_tun();
  void destroy() noexcept;

  netns_options opts_;
  link_mode mode_ = link_mode::bridge;
  std::string prefix_;   ///< cxnt<pid>-<k>
  std::string subnet_;   ///< 10.A.B. (with the dot)
  std::vector<std::string> made_; ///< namespaces made, in order
  std::string host_link_; ///< the host's interface
  std::set<std::pair<size_t, size_t>> blocked_;
  std::map<std::pair<size_t, size_t>, int> loss_percent_;
  std::map<std::pair<size_t, size_t>, int64_t> delay_ms_;
  std::unique_ptr<tun_switch> switch_;
  uint64_t dropped_before_ = 0; ///< counted in rules since replaced
};

/// Runs `command` with /bin/sh, returns its output (stdout and stderr);
/// throws std::runtime_error with the output when it exits non-zero.
std::string run_command(const std::string& command);

} // namespace cxesdb::tests
