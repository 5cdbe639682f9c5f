// cxesdb-chaos: a seeded nemesis against three real nodes, each in a
// network namespace of its own (docs/testing.md, "The nemesis").
//
// While writers append with exact expected versions through every node
// (tests/integration/workload.hpp), a reader checks get_version through
// random nodes and a subscriber follows `$all`, the nemesis applies one
// fault at a time, drawn from the seed: a node isolated, a link cut one
// way, two nodes cut from each other (a bridge), a link flapping, every
// link slow and lossy, a node SIGKILLed and restarted, a node frozen
// (SIGSTOP) and resumed. Each fault lasts a
// drawn time, then heals, then a drawn quiet time passes. At the end
// everything heals, and it checks:
//
// - recovery: appends are acknowledged again within --recovery-s of the
//   heal;
// - every acknowledged append is on every replica exactly once, in one
//   order (tests/integration/history_check.hpp), and no writer heard an
//   answer the protocol does not allow;
// - every successful read saw every append acknowledged before it began
//   (the register each stream is: get_version returns at least the version
//   of the last acknowledged append to that stream);
// - a `$all` subscriber, moving to another node whenever its connection or
//   subscription fails and subscribing again after the last position it
//   got, saw every position once, in order, with the events the replicas
//   hold there, up to the last acknowledged append.
//
// The same seed draws the same schedule (the timing of the processes, not
// the schedule, differs between runs). Exit 0: clean; 1: a check failed;
// 2: usage; 77: this machine cannot make network namespaces (not root,
// `ip` or `nft` missing), as meson's "skipped".
//
//   CXESDB_NODE=build/tools/cxesdb-node build/tests/chaos/cxesdb-chaos
//     --seed 7 --duration-s 300   (one command line)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/client/json_client.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/netns.hpp"
#include "tests/integration/workload.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

namespace {

/// The store every writer appends to.
const std::string store = "chaos";

/// Its timeout_ms: how long an append may take to be answered.
constexpr int store_timeout_ms = 2000;

/// What an answer may take beyond the store's timeout on a busy machine.
constexpr int answer_margin_ms = 3000;

struct settings {
  uint64_t seed = 0;
  std::chrono::seconds duration{60};
  /// Longest fault and longest quiet time between two.
  std::chrono::milliseconds fault_max{4000};
  std::chrono::milliseconds quiet_max{2000};
  /// How soon after the last heal appends must be acknowledged again.
  std::chrono::seconds recovery{30};
};

void usage() {
  std::cerr << "usage: cxesdb-chaos [--seed N] [--duration-s S] "
               "[--fault-max-ms MS] [--quiet-max-ms MS] [--recovery-s S]\n"
               "  CXESDB_NODE names the node binary. Exit 0 clean, 1 a "
               "check failed, 2 usage, 77 no network namespaces here.\n";
}

std::optional<settings> parse(int argc, char** argv) {
  settings s;
  s.seed = static_cast<uint64_t>(
    clock_type::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      return std::nullopt;
    char* end = nullptr;
    auto v = std::strtoull(argv[++i], &end, 10);
    if (end == nullptr || *end != '\0')
      return std::nullopt;
    if (a == "--seed")
      s.seed = v;
    else if (a == "--duration-s" && v >= 1)
      s.duration = std::chrono::seconds{v};
    else if (a == "--fault-max-ms" && v >= 100)
      s.fault_max = std::chrono::milliseconds{v};
    else if (a == "--quiet-max-ms" && v >= 100)
      s.quiet_max = std::chrono::milliseconds{v};
    else if (a == "--recovery-s" && v >= 1)
      s.recovery = std::chrono::seconds{v};
    else
      return std::nullopt;
  }
  return s;
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// The kinds of fault, in the order the seed draws them from.
enum class fault {
  isolate,  ///< one node cut from both others, both ways
  one_way,  ///< one direction of one link cut
  bridge,   ///< two nodes cut from each other; the third sees both
  flap,     ///< one link cut and healed every 200 to 600 ms
  degrade,  ///< every link 5 % lossy and 100 ms slow
  kill,     ///< one node SIGKILLed, restarted when the fault ends
  pause,    ///< one node SIGSTOPped, SIGCONTed when the fault ends
};
constexpr int fault_kinds = 7;

const char* name_of(fault f) {
  switch (f) {
    case fault::isolate:
      return "isolate";
    case fault::one_way:
      return "one-way cut";
    case fault::bridge:
      return "bridge";
    case fault::flap:
      return "flapping link";
    case fault::degrade:
      return "slow, lossy links";
    case fault::kill:
      return "kill and restart";
    case fault::pause:
      return "pause and resume";
  }
  return "?";
}

/// A checker that runs on a thread of its own from `start()` to `stop()`.
/// A subclass's destructor calls `stop()` first, so that an exception that
/// ends the run never leaves the thread running on a destroyed object.
class checker_thread {
public:
  checker_thread() = default;
  checker_thread(const checker_thread&) = delete;
  checker_thread& operator=(const checker_thread&) = delete;
  virtual ~checker_thread() = default;

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

protected:
  virtual void run() = 0;

  std::atomic<bool> stop_{false};

private:
  std::thread thread_;
};

/// Reads get_version of the writers' streams through random nodes and
/// checks each successful answer against the appends acknowledged before
/// the read began.
class reader final : public checker_thread {
public:
  reader(std::vector<std::string> hosts, std::vector<uint16_t> ports,
         std::vector<std::string> streams, const workload& w, uint64_t seed)
    : hosts_(std::move(hosts)),
      ports_(std::move(ports)),
      streams_(std::move(streams)),
      load_(w),
      rng_(seed) {
  }

  ~reader() override {
    stop();
  }

  size_t checked() const {
    return checked_;
  }

  std::vector<std::string> stale() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return stale_;
  }

private:
  void run() override {
    std::vector<cxesdb::gateway::json_client> clients(ports_.size());
    while (!stop_) {
      auto node = rng_() % ports_.size();
      auto& stream = streams_[rng_() % streams_.size()];
      // Everything acknowledged so far was acknowledged before the read.
      auto floor = load_.acked_version(stream);
      auto& c = clients[node];
      if (!c.connected()
          && c.connect(hosts_[node], ports_[node], 1000).has_value()) {
        std::this_thread::sleep_for(50ms);
        continue;
      }
      auto answer = c.call("get_version", {{"store", store}, {"stream", stream}},
                           store_timeout_ms + answer_margin_ms);
      if (!answer) {
        c.close();
        continue;
      }
      if (answer->contains("result")) {
        auto v = (*answer)["result"].value("version", int64_t{-2});
        ++checked_;
        if (v < floor) {
          std::lock_guard<std::mutex> guard{mtx_};
          stale_.push_back("node" + std::to_string(node + 1) + " answered "
                           + stream + " version " + std::to_string(v)
                           + " after version " + std::to_string(floor)
                           + " was acknowledged");
        }
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  std::vector<std::string> hosts_;
  std::vector<uint16_t> ports_;
  std::vector<std::string> streams_;
  const workload& load_;
  std::mt19937_64 rng_;
  std::atomic<size_t> checked_{0};
  mutable std::mutex mtx_;
  std::vector<std::string> stale_;
};

/// A `$all` subscriber (transient) that moves to the next node whenever its
/// connection fails, the subscription is dropped or nothing comes for a
/// while, and subscribes again from the position after the last event it
/// got. Positions of `$all` are gapless, so every event must be the one
/// after the last: anything else is a gap or a duplicate.
class subscriber final : public checker_thread {
public:
  subscriber(std::vector<std::string> hosts, std::vector<uint16_t> ports)
    : hosts_(std::move(hosts)), ports_(std::move(ports)) {
  }

  ~subscriber() override {
    stop();
  }

  /// The last position received, -1 before any.
  int64_t last() const {
    return last_;
  }

  /// Subscriptions made (the first and every one after a move).
  size_t subscriptions() const {
    return subscriptions_;
  }

  /// Call after `stop`: what was received, by position.
  const std::vector<std::pair<int64_t, std::string>>& received() const {
    return received_;
  }

  std::vector<std::string> problems() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return problems_;
  }

private:
  /// How long a subscription may stay silent before it moves on (appends
  /// go on through the other nodes meanwhile, or the store has no leader).
  static constexpr auto silence_max = 5s;

  void run() override {
    size_t node = 0;
    while (!stop_) {
      cxesdb::gateway::json_client c;
      if (c.connect(hosts_[node], ports_[node], 1000).has_value()) {
        node = (node + 1) % ports_.size();
        std::this_thread::sleep_for(100ms);
        continue;
      }
      json from = last_ < 0 ? json("origin") : json(last_ + 1);
      auto r = c.call("save_subscription",
                      {{"store", store},
                       {"type", "by_stream"},
                       {"selector", "$all"},
                       {"start_from", from}},
                      store_timeout_ms + answer_margin_ms);
      if (!r || !r->contains("result")) {
        node = (node + 1) % ports_.size();
        std::this_thread::sleep_for(100ms);
        continue;
      }
      ++subscriptions_;
      auto heard = clock_type::now();
      while (!stop_ && clock_type::now() - heard < silence_max) {
        auto m = c.read_message(200);
        if (!m)
          continue;
        auto method = m->value("method", std::string{});
        if (method == "subscription_dropped")
          break;
        if (method != "event")
          continue;
        heard = clock_type::now();
        auto& e = (*m)["params"]["event"];
        auto pos = e.value("position", int64_t{-2});
        if (pos != last_ + 1) {
          std::lock_guard<std::mutex> guard{mtx_};
          problems_.push_back("after position " + std::to_string(last_)
                              + " node" + std::to_string(node + 1)
                              + " delivered position " + std::to_string(pos)
                              + (pos <= last_ ? " (a duplicate)" : " (a gap)"));
        }
        if (pos > last_) {
          received_.emplace_back(pos, e.value("event_id", std::string{}));
          last_ = pos;
        }
      }
      node = (node + 1) % ports_.size();
    }
  }

  std::vector<std::string> hosts_;
  std::vector<uint16_t> ports_;
  std::atomic<int64_t> last_{-1};
  std::atomic<size_t> subscriptions_{0};
  std::vector<std::pair<int64_t, std::string>> received_;
  mutable std::mutex mtx_;
  std::vector<std::string> problems_;
};

/// Creates the store (three replicas) through node 1, retrying while the
/// catalog is not ready.
bool make_store(cluster& c) {
  auto deadline = clock_type::now() + 60s;
  while (clock_type::now() < deadline) {
    auto client = c.client(1);
    auto r = client.call("create_store",
                         {{"store", store},
                          {"config",
                           {{"replication_factor", 3},
                            {"timeout_ms", store_timeout_ms}}}},
                         10000);
    if (r && r->contains("result") && c.leader_of(store))
      return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

int run(const settings& s) {
  if (auto why = netns_network::unsupported()) {
    std::cout << "skipped: " << *why << std::endl;
    return 77;
  }
  std::mt19937_64 rng{s.seed};
  auto draw = [&rng](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  };
  std::cout << "seed " << s.seed << ", " << s.duration.count() << " s"
            << std::endl;
  netns_network net{{3, link_mode::for_delay}};
  cluster_options o;
  o.nodes = net.size();
  for (size_t i = 1; i <= net.size(); ++i) {
    o.binds.push_back(net.address(i));
    o.netns.push_back(net.netns(i));
  }
  cluster c{o};
  auto fail = [&](const std::string& why) {
    std::cout << "FAILED (seed " << s.seed << "): " << why << "\n"
              << net.describe() << c.post_mortem() << std::endl;
    return 1;
  };
  if (!c.wait_all_up(60s))
    return fail("no cluster formed");
  if (!make_store(c))
    return fail("no store " + store);

  load_options lo;
  lo.store = store;
  lo.prefix = "chaos";
  lo.call_timeout_ms = store_timeout_ms + answer_margin_ms;
  lo.hosts = c.client_hosts();
  workload w{c.client_ports(), lo};
  w.start();
  std::vector<std::string> streams;
  for (size_t wi = 0; wi < lo.writers; ++wi)
    for (size_t si = 0; si < lo.streams_per_writer; ++si)
      streams.push_back(lo.prefix + "-w" + std::to_string(wi) + "-s"
                        + std::to_string(si));
  reader r{c.client_hosts(), c.client_ports(), streams, w, s.seed ^ 0x5eed};
  r.start();
  subscriber sub{c.client_hosts(), c.client_ports()};
  sub.start();

  auto started = clock_type::now();
  std::map<std::string, int> counts;
  /// When each fault healed, and when it began (seconds into the run, as
  /// printed): after the run, the time from each heal to the first append
  /// acknowledged after it is its recovery time.
  struct healed_fault {
    clock_type::time_point at;
    double began_s;
  };
  std::vector<healed_fault> heals;
  bool can_delay = true;
  while (clock_type::now() - started < s.duration) {
    auto kind = static_cast<fault>(draw(0, fault_kinds - 1));
    auto hold = std::chrono::milliseconds{draw(300, s.fault_max.count())};
    auto a = static_cast<size_t>(draw(1, 3));
    auto b = static_cast<size_t>(draw(1, 2));
    if (b >= a)
      ++b; // a node other than a
    if (kind == fault::degrade && !can_delay)
      kind = fault::isolate;
    auto began_s = seconds_since(started);
    std::printf("%7.1f s  %s", began_s, name_of(kind));
    switch (kind) {
      case fault::isolate:
        std::printf(" node%zu", a);
        net.isolate(a);
        break;
      case fault::one_way:
        std::printf(" node%zu -> node%zu", a, b);
        net.block(a, b);
        break;
      case fault::bridge:
        std::printf(" node%zu | node%zu", a, b);
        net.partition({a}, {b});
        break;
      case fault::flap:
        std::printf(" node%zu <-> node%zu", a, b);
        break;
      case fault::degrade:
        try {
          net.degrade_all(5, 100ms);
        } catch (const std::exception&) {
          can_delay = false; // no netem and no TUN switch: loss alone
          net.degrade_all(5, 0ms);
        }
        break;
      case fault::kill:
        std::printf(" node%zu", a);
        c.kill(a);
        break;
      case fault::pause:
        std::printf(" node%zu", a);
        c.stop(a);
        break;
    }
    std::printf(" for %lld ms\n", static_cast<long long>(hold.count()));
    std::fflush(stdout);
    ++counts[name_of(kind)];
    auto until = clock_type::now() + hold;
    if (kind == fault::flap) {
      // Its own generator: how many toggles fit depends on the machine's
      // timing, and must not move the rest of the schedule.
      std::mt19937_64 toggles{rng()};
      bool cut = false;
      while (clock_type::now() < until) {
        cut = !cut;
        if (cut)
          net.partition({a}, {b});
        else
          net.heal();
        std::this_thread::sleep_for(
          std::chrono::milliseconds{200 + toggles() % 401});
      }
    } else {
      std::this_thread::sleep_until(until);
    }
    if (kind == fault::kill)
      c.restart(a);
    else if (kind == fault::pause)
      c.cont(a);
    net.heal();
    heals.push_back({clock_type::now(), began_s});
    std::this_thread::sleep_for(
      std::chrono::milliseconds{draw(200, s.quiet_max.count())});
  }

  // Everything healed: appends must go on again within the bound.
  net.heal();
  auto healed = clock_type::now();
  auto target = w.acked() + 20;
  bool recovered = wait_until([&] { return w.acked() >= target; },
                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                s.recovery));
  auto recovery_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       clock_type::now() - healed)
                       .count();
  r.stop();
  w.stop();
  // The subscriber catches up with everything acknowledged.
  auto last = w.last_acked_position();
  bool caught_up = wait_until([&] { return sub.last() >= last; }, 30s);
  sub.stop();
  // Recovery after each heal: the first append acknowledged after it.
  std::vector<std::pair<int64_t, double>> recoveries; // ms, fault's start
  for (auto& h : heals)
    if (auto d = w.first_ack_after(h.at))
      recoveries.emplace_back(d->count(), h.began_s);
  std::sort(recoveries.begin(), recoveries.end());
  std::cout << "faults:";
  for (auto& kv : counts)
    std::cout << " " << kv.first << " " << kv.second << ";";
  if (!recoveries.empty()) {
    char worst[32];
    std::snprintf(worst, sizeof(worst), "%.1f", recoveries.back().second);
    std::cout << "\nfirst acknowledged append after a heal: median "
              << recoveries[recoveries.size() / 2].first << " ms, max "
              << recoveries.back().first << " ms (the fault at " << worst
              << " s; " << recoveries.size() << " of " << heals.size()
              << " heals)";
  }
  std::cout << "\nacknowledged batches " << w.acked() << "; retried answers: "
            << w.retry_summary() << "\nreads checked " << r.checked()
            << "\nsubscriber: " << sub.received().size() << " events, "
            << sub.subscriptions() << " subscriptions"
            << "\nrecovery after the last heal: " << recovery_ms << " ms"
            << std::endl;
  if (!recovered)
    return fail("no 20 acknowledged appends within "
                + std::to_string(s.recovery.count()) + " s of the heal");
  auto bad = w.unexpected();
  if (!bad.empty())
    return fail(std::to_string(bad.size()) + " unexpected answers, first: "
                + bad.front());
  auto stale = r.stale();
  if (!stale.empty())
    return fail(std::to_string(stale.size()) + " stale reads, first: "
                + stale.front());
  auto gaps = sub.problems();
  if (!gaps.empty())
    return fail(std::to_string(gaps.size())
                + " subscription gaps or duplicates, first: " + gaps.front());
  if (!caught_up)
    return fail("the subscriber stopped at position "
                + std::to_string(sub.last()) + ", short of "
                + std::to_string(last) + ", 30 s after the load stopped");
  auto sent = w.history();
  std::vector<size_t> all{1, 2, 3};
  if (!c.wait_replicas_agree(store, all, static_cast<size_t>(last + 1), 60s))
    return fail("the replicas did not converge after the heal");
  c.shutdown_all();
  std::vector<replica_state> replicas;
  for (auto i : all) {
    if (!c.has_replica(i, store))
      return fail(cluster::name(i) + " has no replica");
    replicas.push_back(c.replica(i, store));
  }
  auto report = check_history(sent, replicas);
  if (!report.ok())
    return fail(report.message());
  // What the subscriber got is what the replicas hold at those positions.
  auto& rows = replicas.front().rows;
  for (auto& [pos, id] : sub.received()) {
    auto row = std::lower_bound(rows.begin(), rows.end(), pos,
                                [](const replica_row& x, int64_t p) {
                                  return x.position < p;
                                });
    if (row == rows.end() || row->position != pos || row->event_id != id)
      return fail("the subscriber got event " + id + " at position "
                  + std::to_string(pos) + ", which the replicas do not hold "
                                          "there");
  }
  std::cout << "clean (seed " << s.seed << ")" << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  auto s = parse(argc, argv);
  if (!s) {
    usage();
    return 2;
  }
  try {
    return run(*s);
  } catch (const std::exception& e) {
    std::cout << "FAILED (seed " << s->seed << "): " << e.what() << std::endl;
    return 1;
  }
}
