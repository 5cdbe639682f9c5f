#include "tests/integration/netns.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "tests/integration/tun_switch.hpp"

namespace cxesdb::tests {

namespace {

/// Every name this harness gives starts with this (then the pid).
constexpr const char* name_prefix = "cxnt";

/// Networks made by this process so far: part of the names.
std::atomic<unsigned> networks_made{0};

/// Deletes the namespaces of earlier runs whose process is gone.
void delete_stale_namespaces() {
  std::string list;
  try {
    list = run_command("ip netns list");
  } catch (const std::runtime_error&) {
    return;
  }
  std::istringstream in{list};
  std::string line;
  while (std::getline(in, line)) {
    auto name = line.substr(0, line.find(' '));
    if (name.rfind(name_prefix, 0) != 0)
      continue;
    auto pid = std::atol(name.c_str() + std::char_traits<char>::length(name_prefix));
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      try {
        run_command("ip netns del " + name);
      } catch (const std::runtime_error&) {
        // another run cleans up at the same time
      }
    }
  }
}

/// A /24 of 10.0.0.0/8 that no address or route of the host touches,
/// starting from one derived from the pid: "10.A.B.".
std::string pick_subnet(unsigned k) {
  auto used = run_command("ip -4 -o addr show; ip -4 route show table all");
  auto pid = static_cast<unsigned>(::getpid());
  for (unsigned n = 0; n < 256 * 50; ++n) {
    auto a = 200 + (pid + n / 256) % 50;
    auto b = (pid / 50 + k * 7 + n) % 256;
    auto prefix = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    if (used.find(" " + prefix) == std::string::npos
        && used.find("\n" + prefix) == std::string::npos
        && used.rfind(prefix, 0) != 0)
      return prefix;
  }
  throw std::runtime_error("netns_network: no free /24 in 10.200-249.x");
}

} // namespace

std::string run_command(const std::string& command) {
  // The newline lets `command` end with a here-document.
  auto full = "(" + command + "\n) 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr)
    throw std::runtime_error("run_command: popen failed: " + command);
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  auto status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("command failed (status " + std::to_string(status)
                             + "): " + command + "\n" + out);
  return out;
}

std::optional<std::string> netns_network::unsupported() {
  if (::geteuid() != 0)
    return std::string{"not root: network namespaces need root "
                       "(CI runs as root)"};
  try {
    run_command("command -v ip && command -v nft");
  } catch (const std::runtime_error&) {
    return std::string{"`ip` or `nft` missing (scripts/setup installs "
                       "iproute2 and nftables)"};
  }
  auto probe = std::string{name_prefix} + std::to_string(::getpid()) + "-probe";
  try {
    run_command("ip netns add " + probe);
    run_command("ip netns exec " + probe
                + " nft add table inet cxprobe");
    run_command("ip netns del " + probe);
  } catch (const std::runtime_error& e) {
    try {
      run_command("ip netns del " + probe);
    } catch (const std::runtime_error&) {
    }
    return "cannot make a network namespace with nftables: "
           + std::string{e.what()};
  }
  return std::nullopt;
}

bool netns_network::netem_available() {
  static const bool available = [] {
    auto probe = std::string{name_prefix} + std::to_string(::getpid())
                 + "-netem";
    bool ok = true;
    try {
      run_command("ip netns add " + probe);
      run_command("ip -n " + probe + " link set lo up && tc -n " + probe
                  + " qdisc add dev lo root netem delay 1ms");
    } catch (const std::runtime_error&) {
      ok = false;
    }
    try {
      run_command("ip netns del " + probe);
    } catch (const std::runtime_error&) {
    }
    return ok;
  }();
  return available;
}

netns_network::netns_network(netns_options opts) : opts_(std::move(opts)) {
  if (opts_.nodes < 1 || opts_.nodes > 250)
    throw std::logic_error("netns_network: 1..250 nodes");
  mode_ = opts_.links;
  if (mode_ == link_mode::for_delay)
    mode_ = netem_available() ? link_mode::bridge : link_mode::tun;
  delete_stale_namespaces();
  auto k = ++networks_made;
  prefix_ = std::string{name_prefix} + std::to_string(::getpid()) + "-"
            + std::to_string(k);
  host_link_ = prefix_ + "h";
  try {
    subnet_ = pick_subnet(k);
    if (mode_ == link_mode::bridge)
      build_bridge();
    else
      build_tun();
  } catch (...) {
    destroy();
    throw;
  }
}

netns_network::~netns_network() {
  destroy();
}

void netns_network::destroy() noexcept {
  switch_.reset(); // closes the TUN devices
  if (mode_ == link_mode::bridge && !made_.empty()) {
    // At once, both ends: a namespace's interfaces go some time after
    // `ip netns del`.
    try {
      run_command("ip link del " + host_link_ + " 2>/dev/null || true");
    } catch (const std::runtime_error&) {
    }
  }
  for (auto i = made_.rbegin(); i != made_.rend(); ++i) {
    try {
      run_command("ip netns del " + *i);
    } catch (const std::runtime_error&) {
      // nothing more to do; the next run deletes it as stale
    }
  }
  made_.clear();
}

void netns_network::build_bridge() {
  auto hub = prefix_ + "-hub";
  run_command("ip netns add " + hub);
  made_.push_back(hub);
  run_command("ip -n " + hub + " link set lo up && ip -n " + hub
              + " link add br0 type bridge && ip -n " + hub
              + " link set br0 up");
  for (size_t i = 1; i <= opts_.nodes; ++i) {
    auto ns = netns(i);
    run_command("ip netns add " + ns);
    made_.push_back(ns);
    auto port = "p" + std::to_string(i);
    run_command("ip -n " + ns + " link set lo up && ip -n " + hub
                + " link add " + port + " type veth peer name eth0 netns "
                + ns + " && ip -n " + hub + " link set " + port
                + " master br0 up && ip -n " + ns + " addr add " + address(i)
                + "/24 dev eth0 && ip -n " + ns + " link set eth0 up");
  }
  run_command("ip link add " + host_link_ + " type veth peer name ph netns "
              + hub + " && ip -n " + hub + " link set ph master br0 up"
              + " && ip addr add " + host_address() + "/24 dev " + host_link_
              + " && ip link set " + host_link_ + " up");
}

void netns_network::build_tun() {
  switch_ = std::make_unique<tun_switch>();
  for (size_t i = 1; i <= opts_.nodes; ++i) {
    auto ns = netns(i);
    run_command("ip netns add " + ns);
    made_.push_back(ns);
    switch_->add_port(open_tun(ns, "eth0"), static_cast<uint8_t>(i));
    run_command("ip -n " + ns + " link set lo up && ip -n " + ns
                + " addr add " + address(i) + "/24 dev eth0 && ip -n " + ns
                + " link set eth0 up");
  }
  switch_->add_port(open_tun("", host_link_), 254);
  run_command("ip addr add " + host_address() + "/24 dev " + host_link_
              + " && ip link set " + host_link_ + " up");
  switch_->start();
}

void netns_network::check_index(size_t i) const {
  if (i < 1 || i > opts_.nodes)
    throw std::logic_error("netns_network: no node " + std::to_string(i));
}

std::string netns_network::netns(size_t i) const {
  check_index(i);
  return prefix_ + "-n" + std::to_string(i);
}

std::string netns_network::address(size_t i) const {
  check_index(i);
  return subnet_ + std::to_string(i);
}

std::string netns_network::host_address() const {
  return subnet_ + "254";
}

void netns_network::apply_rules(size_t i) {
  dropped_before_ += count_dropped(i); // the counters go with the table
  // One nft transaction: create the table (so that the delete cannot
  // fail), delete it with its rules, make it anew.
  std::string script = "table inet cxnet\ndelete table inet cxnet\n"
                       "table inet cxnet {\n chain out {\n"
                       "  type filter hook output priority 0; policy accept;\n";
  for (size_t j = 1; j <= opts_.nodes; ++j) {
    if (blocked_.count({i, j}) > 0) {
      script += "  ip daddr " + address(j) + " counter drop\n";
      continue;
    }
    auto l = loss_percent_.find({i, j});
    if (l != loss_percent_.end() && l->second >= 100)
      script += "  ip daddr " + address(j) + " counter drop\n";
    else if (l != loss_percent_.end() && l->second > 0)
      script += "  ip daddr " + address(j) + " numgen random mod 100 < "
                + std::to_string(l->second) + " counter drop\n";
  }
  script += " }\n}\n";
  run_command("ip netns exec " + netns(i) + " nft -f - <<'CXNT_EOF'\n" + script
              + "CXNT_EOF");
}

void netns_network::block(size_t from, size_t to) {
  check_index(to);
  blocked_.insert({from, to});
  apply_rules(from);
}

void netns_network::unblock(size_t from, size_t to) {
  check_index(to);
  blocked_.erase({from, to});
  apply_rules(from);
}

void netns_network::isolate(size_t i) {
  check_index(i);
  std::vector<size_t> others;
  for (size_t j = 1; j <= opts_.nodes; ++j)
    if (j != i)
      others.push_back(j);
  partition({i}, others);
}

void netns_network::partition(const std::vector<size_t>& a,
                              const std::vector<size_t>& b) {
  std::set<size_t> touched;
  for (auto x : a)
    for (auto y : b) {
      check_index(x);
      check_index(y);
      blocked_.insert({x, y});
      blocked_.insert({y, x});
      touched.insert(x);
      touched.insert(y);
    }
  for (auto i : touched)
    apply_rules(i);
}

void netns_network::set_loss(size_t from, size_t to, int percent) {
  check_index(to);
  if (percent < 0 || percent > 100)
    throw std::logic_error("netns_network: loss is 0..100 %");
  loss_percent_[{from, to}] = percent;
  apply_rules(from);
}

void netns_network::set_delay(size_t from, size_t to,
                              std::chrono::milliseconds delay) {
  check_index(from);
  check_index(to);
  if (mode_ == link_mode::tun) {
    switch_->set_delay(static_cast<uint8_t>(from), static_cast<uint8_t>(to),
                       delay);
  } else {
    if (!netem_available())
      throw std::runtime_error("netns_network: this kernel has no sch_netem;"
                               " build the network with link_mode::tun to "
                               "delay packets");
    if (delay.count() > 0)
      run_command("tc -n " + netns(from)
                  + " qdisc replace dev eth0 root netem delay "
                  + std::to_string(delay.count()) + "ms");
    else
      run_command("tc -n " + netns(from) + " qdisc del dev eth0 root || true");
  }
  delay_ms_[{from, to}] = delay.count();
}

void netns_network::degrade_all(int loss_percent,
                                std::chrono::milliseconds delay) {
  for (size_t i = 1; i <= opts_.nodes; ++i) {
    for (size_t j = 1; j <= opts_.nodes; ++j) {
      if (i == j)
        continue;
      loss_percent_[{i, j}] = loss_percent;
      set_delay(i, j, delay);
    }
    apply_rules(i);
  }
}

void netns_network::heal() {
  blocked_.clear();
  loss_percent_.clear();
  for (auto& [link, ms] : delay_ms_)
    if (ms > 0)
      set_delay(link.first, link.second, std::chrono::milliseconds{0});
  delay_ms_.clear();
  for (size_t i = 1; i <= opts_.nodes; ++i)
    apply_rules(i);
}

uint64_t netns_network::count_dropped(size_t i) const {
  std::string rules;
  try {
    rules = run_command("ip netns exec " + netns(i)
                        + " nft list table inet cxnet");
  } catch (const std::runtime_error&) {
    return 0; // no rules made yet
  }
  // "... counter packets N bytes M drop"
  uint64_t total = 0;
  for (size_t at = rules.find("packets "); at != std::string::npos;
       at = rules.find("packets ", at + 1))
    total += std::strtoull(rules.c_str() + at + 8, nullptr, 10);
  return total;
}

uint64_t netns_network::dropped_packets() const {
  auto total = dropped_before_;
  for (size_t i = 1; i <= opts_.nodes; ++i)
    total += count_dropped(i);
  return total;
}

std::string netns_network::describe() const {
  std::ostringstream out;
  out << "network " << prefix_ << " ("
      << (mode_ == link_mode::tun ? "tun switch" : "bridge") << ") on "
      << subnet_ << "0/24, host " << host_address() << '\n';
  for (auto& [from, to] : blocked_)
    out << "  node" << from << " -> node" << to << ": cut\n";
  for (auto& [link, p] : loss_percent_)
    if (p > 0)
      out << "  node" << link.first << " -> node" << link.second << ": "
          << p << " % loss\n";
  for (auto& [link, ms] : delay_ms_)
    if (ms > 0)
      out << "  node" << link.first << " -> node" << link.second << ": "
          << ms << " ms delay\n";
  return out.str();
}

void netns_network::run_in(size_t i, const std::function<void()>& fn) const {
  auto path = "/run/netns/" + netns(i);
  std::exception_ptr failed;
  std::thread t{[&] {
    try {
      int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0)
        throw std::runtime_error("run_in: cannot open " + path);
      auto rc = ::setns(ns, CLONE_NEWNET);
      ::close(ns);
      if (rc != 0)
        throw std::runtime_error("run_in: setns " + path + " failed");
      fn();
    } catch (...) {
      failed = std::current_exception();
    }
  }};
  t.join();
  if (failed)
    std::rethrow_exception(failed);
}

} // namespace cxesdb::tests
