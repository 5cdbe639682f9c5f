// The partition suite: three real cxesdb-node processes, each in a network
// namespace of its own (tests/integration/netns.hpp), under an append load
// while the links between them are cut (both ways, one way, and as a bridge
// that one node sees both sides of), flap, and turn slow and lossy; and the
// catalog while a node is cut off. After each run every replica is read
// from its store.db and checked against what the clients were told
// (tests/integration/history_check.hpp): every acknowledged append present
// exactly once, in one order on every replica.
//
// Needs root (CI runs as root): without it the program says why and exits
// 77, which meson reports as skipped. docs/testing.md describes the suite.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/cluster.hpp"
#include "tests/integration/netns.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/integration/workload.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// Prints a line to the test's log (not doctest's MESSAGE, which would
/// repeat each case's INFO).
#define NOTE(expr)                                                             \
  do {                                                                         \
    std::cout << "note: " << expr << std::endl;                               \
  } while (false)

/// The store's `timeout_ms`: how long it may take to answer an append.
constexpr int store_timeout_ms = 2000;

/// What an answer may take beyond the store's timeout on a busy machine.
constexpr int answer_margin_ms = 3000;

/// How long the nodes may take to see each other after they start.
constexpr auto cluster_up_timeout = 60s;

/// How long anything the cases wait for may take: an election after a cut,
/// appends going on, replicas converging after a heal (TCP's retransmission
/// back-off after a long cut adds seconds).
constexpr auto progress_timeout = 45s;

/// The store every case writes.
const std::string store = "orders";

/// Three nodes, each in its own namespace, and the cluster on them. The
/// network is declared first, so that the nodes are stopped before their
/// namespaces go.
struct netns_cluster {
  netns_network net;
  cluster c;

  explicit netns_cluster(link_mode links)
    : net{{3, links}}, c{options(net)} {
  }

  static cluster_options options(const netns_network& net) {
    cluster_options o;
    o.nodes = net.size();
    for (size_t i = 1; i <= net.size(); ++i) {
      o.binds.push_back(net.address(i));
      o.netns.push_back(net.netns(i));
    }
    return o;
  }

  std::string post_mortem() const {
    return net.describe() + c.post_mortem();
  }
};

std::vector<size_t> all_nodes(const cluster& c) {
  std::vector<size_t> out;
  for (size_t i = 1; i <= c.size(); ++i)
    out.push_back(i);
  return out;
}

std::vector<size_t> all_but(const cluster& c, size_t skip) {
  auto out = all_nodes(c);
  out.erase(std::remove(out.begin(), out.end(), skip), out.end());
  return out;
}

std::string lines(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += "\n  " + x;
  return out;
}

/// Creates the store with three replicas through node 1, retrying while the
/// catalog answers `unavailable`, and waits for its leader; returns the
/// leader's index.
size_t make_store(cluster& c) {
  REQUIRE_MESSAGE(c.wait_all_up(cluster_up_timeout), "no cluster formed");
  auto client = c.client(1);
  json last;
  bool made = wait_until(
    [&] {
      last = rpc(client, "create_store",
                 {{"store", store},
                  {"config",
                   {{"replication_factor", 3},
                    {"timeout_ms", store_timeout_ms}}}});
      return last.contains("result")
             || last["error"]["data"].value("reason", "") != "unavailable";
    },
    30s, 100ms);
  REQUIRE_MESSAGE((made && last.contains("result")),
                  "create_store: " << brief(last));
  std::optional<size_t> leader;
  REQUIRE_MESSAGE(wait_until(
                    [&] {
                      leader = c.leader_of(store);
                      return leader.has_value();
                    },
                    30s, 100ms),
                  "no leader for " << store);
  return *leader;
}

/// The index of the node that node `via` names as the store's leader
/// (cluster_status); nothing when it names none or does not answer.
std::optional<size_t> leader_seen_by(cluster& c, size_t via) {
  auto st = c.store_status(via, store);
  if (!st)
    return std::nullopt;
  auto leader = st->value("leader", json{});
  if (!leader.is_string())
    return std::nullopt;
  return c.index_of(leader.get<std::string>());
}

/// Starts appending through every node (exact expected versions, each
/// batch retried with its event ids until acknowledged) and waits until it
/// gets going.
std::unique_ptr<workload> start_load(netns_cluster& nc) {
  load_options lo;
  lo.store = store;
  lo.call_timeout_ms = store_timeout_ms + answer_margin_ms;
  lo.hosts = nc.c.client_hosts();
  auto w = std::make_unique<workload>(nc.c.client_ports(), lo);
  w->start();
  auto target = w->acked() + 30;
  REQUIRE_MESSAGE(wait_until([&] { return w->acked() >= target; }, 30s),
                  "the load does not get going");
  return w;
}

/// Waits until the load has `n` more acknowledged batches than now.
bool wait_acks(const workload& w, size_t n,
               std::chrono::milliseconds timeout = progress_timeout) {
  auto target = w.acked() + n;
  return wait_until([&] { return w.acked() >= target; }, timeout);
}

/// Stops the load and checks what the writers learned, then that the
/// replicas converge and pass the history checker with `extra` (batches
/// sent outside the load) included.
void finish(netns_cluster& nc, workload& w,
            const std::vector<sent_append>& extra = {}) {
  w.stop();
  auto bad = w.unexpected();
  CHECK_MESSAGE(bad.empty(), bad.size() << " unexpected answers:" << lines(bad));
  NOTE("acknowledged batches: " << w.acked() << "; retried answers: "
                                   << w.retry_summary());
  auto sent = w.history();
  sent.insert(sent.end(), extra.begin(), extra.end());
  int64_t last = w.last_acked_position();
  for (auto& s : extra)
    if (s.acked)
      last = std::max(last, s.position);
  auto& c = nc.c;
  CHECK_MESSAGE(c.wait_replicas_agree(store, all_nodes(c),
                                      static_cast<size_t>(last + 1),
                                      progress_timeout),
                "the replicas did not converge after the heal");
  c.shutdown_all();
  std::vector<replica_state> replicas;
  for (auto i : all_nodes(c)) {
    REQUIRE_MESSAGE(c.has_replica(i, store),
                    cluster::name(i) << " has no replica");
    replicas.push_back(c.replica(i, store));
  }
  auto report = check_history(sent, replicas);
  CHECK_MESSAGE(report.ok(), report.message());
}

/// An append through one connection to stream `stream`, whose version only
/// this client changes.
struct single_writer {
  json_client client;
  std::string stream;
  int64_t version = -1;
  std::vector<sent_append> sent;

  /// Sends `events` once; returns the answer, nothing when none came in
  /// time.
  std::optional<json> append(const json& events) {
    return client.call("append_events",
                       {{"store", store},
                        {"stream", stream},
                        {"expected_version", version},
                        {"events", events}},
                       store_timeout_ms + answer_margin_ms);
  }

  /// Records `events` as sent, acknowledged by `answer` when it is a
  /// success.
  void record(const json& events, const std::optional<json>& answer) {
    sent_append s{stream, {}, false};
    for (auto& e : events)
      s.event_ids.push_back(e["event_id"].get<std::string>());
    if (answer && answer->contains("result")) {
      s.acked = true;
      s.version = (*answer)["result"]["version"].get<int64_t>();
      s.position = (*answer)["result"]["position"].get<int64_t>();
      version = s.version;
    }
    sent.push_back(std::move(s));
  }
};

/// `reason` of an error answer; "success" for a result, "no answer" for
/// none.
std::string outcome(const std::optional<json>& answer) {
  if (!answer)
    return "no answer";
  if (answer->contains("result"))
    return "success";
  return (*answer)["error"]["data"].value("reason", "<no reason>");
}

} // namespace

// -- the leader alone ------------------------------------------------------------

TEST_CASE("the leader cut off from both followers: the majority elects a new "
          "leader and goes on, the old one steps down, its client never "
          "hears a success, and nothing acknowledged is lost") {
  netns_cluster nc{link_mode::bridge};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  auto old = make_store(c);
  auto majority = all_but(c, old);
  single_writer minority{c.client(old), "minority", -1, {}};
  auto first = make_events(2, "BeforeCut");
  auto answer = minority.append(first);
  REQUIRE_MESSAGE(outcome(answer) == "success", brief(answer.value_or(json{})));
  minority.record(first, answer);
  // A stream written through the majority only, to catch a stale read
  // through the old leader.
  single_writer probe{c.client(majority[0]), "probe", -1, {}};
  auto probe_events = make_events(1, "Probe");
  auto probe_answer = probe.append(probe_events);
  REQUIRE_MESSAGE(outcome(probe_answer) == "success",
                  brief(probe_answer.value_or(json{})));
  probe.record(probe_events, probe_answer);
  auto load = start_load(nc);
  auto& w = *load;

  NOTE("isolating the leader, " << cluster::name(old));
  nc.net.isolate(old);
  // As soon as the majority acknowledges a write, a read through the old
  // leader must not miss it (a lease outliving the leadership would let it).
  probe_events = make_events(1, "Probe");
  REQUIRE_MESSAGE(wait_until(
                    [&] {
                      probe_answer = probe.append(probe_events);
                      return outcome(probe_answer) == "success";
                    },
                    progress_timeout, 10ms),
                  "no append through the majority succeeded after the cut: "
                    << brief(probe_answer.value_or(json{})));
  probe.record(probe_events, probe_answer);
  auto stale = minority.client.call("get_version",
                                    {{"store", store}, {"stream", "probe"}},
                                    store_timeout_ms + answer_margin_ms);
  REQUIRE_MESSAGE(stale.has_value(), "no answer to a read on the minority");
  NOTE("a read through the cut-off leader right after the majority's first "
       "write: " << brief(*stale));
  if (stale->contains("result"))
    CHECK_MESSAGE((*stale)["result"].value("version", int64_t{-2})
                    >= probe.version,
                  "stale read through the cut-off leader: " << brief(*stale)
                    << ", the majority acknowledged version " << probe.version);
  else
    CHECK((outcome(stale) == "unavailable" || outcome(stale) == "timeout"));
  // Appends through the old leader while it is cut off: each answer is an
  // error that leaves the outcome open, never a success.
  auto pending = make_events(1, "DuringCut");
  std::vector<std::string> answers;
  std::optional<size_t> new_leader;
  bool stepped_down = false;
  auto cut_at = clock_type::now();
  while (clock_type::now() - cut_at < progress_timeout
         && !(new_leader && stepped_down && answers.size() >= 3)) {
    auto sent_at = clock_type::now();
    auto a = minority.append(pending);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - sent_at);
    answers.push_back(outcome(a) + " after " + std::to_string(took.count())
                      + " ms");
    REQUIRE_MESSAGE(a.has_value(), "no answer from the cut-off leader within "
                                     << store_timeout_ms + answer_margin_ms
                                     << " ms");
    REQUIRE_MESSAGE(!a->contains("result"),
                    "the cut-off leader acknowledged an append: " << brief(*a));
    auto reason = outcome(a);
    REQUIRE_MESSAGE((reason == "unavailable" || reason == "timeout"),
                    "unexpected answer from the cut-off leader: " << brief(*a));
    if (!new_leader) {
      auto l = leader_seen_by(c, majority[0]);
      if (l && *l != old)
        new_leader = l;
    }
    if (!stepped_down) {
      auto l = leader_seen_by(c, old);
      stepped_down = !l || *l != old;
    }
  }
  NOTE("answers through the cut-off leader:" << lines(answers));
  REQUIRE_MESSAGE(new_leader.has_value(),
                  "the majority elected no new leader");
  CHECK(std::find(majority.begin(), majority.end(), *new_leader)
        != majority.end());
  CHECK_MESSAGE(stepped_down, "the cut-off leader still names itself leader");
  NOTE("new leader " << cluster::name(*new_leader));
  // A read through the minority cannot be linearizable: it must fail too.
  auto read = minority.client.call("get_version",
                                   {{"store", store}, {"stream", "minority"}},
                                   store_timeout_ms + answer_margin_ms);
  REQUIRE_MESSAGE(read.has_value(), "no answer to a read on the minority");
  auto read_outcome = outcome(read);
  CHECK_MESSAGE((read_outcome == "unavailable" || read_outcome == "timeout"),
                "a read through the cut-off node: " << brief(*read));
  CHECK_MESSAGE(wait_acks(w, 20), "appends stopped on the majority side");

  nc.net.heal();
  NOTE("healed");
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the heal");
  // The batch that had no outcome is written once when retried.
  std::optional<json> after;
  bool written = wait_until(
    [&] {
      after = minority.append(pending);
      return outcome(after) == "success";
    },
    progress_timeout, 200ms);
  CHECK_MESSAGE(written, "the minority's batch never succeeded after the heal: "
                           << brief(after.value_or(json{})));
  minority.record(pending, after);
  if (written)
    CHECK(minority.version == 2);
  auto extra = minority.sent;
  extra.insert(extra.end(), probe.sent.begin(), probe.sent.end());
  finish(nc, w, extra);
}

// -- one way ---------------------------------------------------------------------

TEST_CASE("the leader's packets to the followers dropped, theirs to it "
          "delivered: appends go on; after the heal the old leader is "
          "killed and restarted in its namespace; nothing acknowledged is "
          "lost") {
  netns_cluster nc{link_mode::bridge};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  auto old = make_store(c);
  auto load = start_load(nc);
  auto& w = *load;
  NOTE("dropping what the leader, " << cluster::name(old)
                                    << ", sends to the others");
  for (auto i : all_but(c, old))
    nc.net.block(old, i);
  CHECK_MESSAGE(wait_acks(w, 30), "appends stopped during the one-way cut");
  auto l = leader_seen_by(c, all_but(c, old)[0]);
  NOTE("leader during the one-way cut: "
       << (l ? cluster::name(*l) : std::string{"none"}));
  nc.net.heal();
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the heal");
  // A node in a namespace restarts there: SIGKILL the old leader and start
  // it again; it catches up (finish waits for all three to agree).
  NOTE("SIGKILL and restart of " << cluster::name(old));
  c.kill(old);
  c.restart(old);
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the restart");
  finish(nc, w);
}

// -- a flapping link --------------------------------------------------------------

TEST_CASE("links flap for twelve seconds under load, one link or all of a "
          "node's at a time: appends go on after the heal, and nothing "
          "acknowledged is lost") {
  netns_cluster nc{link_mode::bridge};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  make_store(c);
  auto load = start_load(nc);
  auto& w = *load;
  // A fixed seed: the same schedule on every run. Cuts up to 2.5 s, longer
  // than an election timeout, so some of them move the leadership.
  std::mt19937 rng{16};
  std::uniform_int_distribution<int> cut_ms{300, 2500};
  std::uniform_int_distribution<int> heal_ms{200, 1000};
  std::uniform_int_distribution<size_t> node{1, c.size()};
  auto started = clock_type::now();
  std::vector<std::string> schedule;
  auto first = true;
  while (clock_type::now() - started < 12s) {
    // The leader alone first; then a coin: one link, or a node alone.
    auto a = first ? c.leader_of(store).value_or(1) : node(rng);
    auto whole_node = first || rng() % 2 == 0;
    first = false;
    auto ms = cut_ms(rng);
    if (whole_node) {
      nc.net.isolate(a);
      schedule.push_back(cluster::name(a) + " alone for "
                         + std::to_string(ms) + " ms");
    } else {
      auto b = a % c.size() + 1;
      nc.net.partition({a}, {b});
      schedule.push_back(cluster::name(a) + " <-> " + cluster::name(b)
                         + " cut for " + std::to_string(ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{ms});
    nc.net.heal();
    std::this_thread::sleep_for(std::chrono::milliseconds{heal_ms(rng)});
  }
  NOTE("flapping schedule:" << lines(schedule));
  NOTE("packets dropped: " << nc.net.dropped_packets()
                           << "; acknowledged batches so far " << w.acked());
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the flapping");
  finish(nc, w);
}

// -- slow and lossy ---------------------------------------------------------------

TEST_CASE("200 ms of delay and 5 % loss on every link between nodes under "
          "load: appends go on, and nothing acknowledged is lost") {
  netns_cluster nc{link_mode::for_delay};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  if (nc.net.links() == link_mode::tun)
    NOTE("no sch_netem in this kernel: the TUN switch delays the packets");
  make_store(c);
  auto load = start_load(nc);
  auto& w = *load;
  nc.net.degrade_all(5, 200ms);
  auto degraded_at = clock_type::now();
  CHECK_MESSAGE(wait_acks(w, 30, 60s),
                "appends did not go on over slow, lossy links");
  // At least ten seconds of it.
  wait_until([&] { return clock_type::now() - degraded_at >= 10s; }, 20s);
  NOTE("acknowledged batches while degraded: "
       << w.acked() << "; packets dropped: " << nc.net.dropped_packets());
  nc.net.heal();
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the heal");
  finish(nc, w);
}

// -- a bridge ----------------------------------------------------------------------

TEST_CASE("a bridge: two nodes cut from each other, the third sees both; "
          "appends go on, and nothing acknowledged is lost") {
  netns_cluster nc{link_mode::bridge};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  auto leader = make_store(c);
  auto load = start_load(nc);
  auto& w = *load;
  // The leader is one end of the bridge: the other end cannot hear it.
  auto mid = leader % c.size() + 1;
  auto end = mid % c.size() + 1;
  NOTE("leader " << cluster::name(leader) << ", " << cluster::name(mid)
                 << " sees both, " << cluster::name(end) << " only "
                 << cluster::name(mid));
  nc.net.partition({leader}, {end});
  CHECK_MESSAGE(wait_acks(w, 30), "appends stopped across the bridge");
  nc.net.heal();
  CHECK_MESSAGE(wait_acks(w, 30), "appends did not go on after the heal");
  finish(nc, w);
}

// -- the catalog -----------------------------------------------------------------

TEST_CASE("the catalog under a partition: a store is created on the majority "
          "side, refused on the minority side, and known there after the "
          "heal") {
  netns_cluster nc{link_mode::bridge};
  auto& c = nc.c;
  INFO(nc.post_mortem());
  make_store(c);
  // Node 3 joined last; nodes 1 and 2 are a majority of the catalog's
  // voters whether or not node 3 has been promoted to one yet.
  nc.net.isolate(3);
  auto minority = c.client(3);
  auto majority = c.client(1);
  // Three replicas: two of them, on the majority side, elect the store's
  // leader (with two, one of them could be node 3's, and the store would
  // rightly have no leader until the heal).
  auto config = json{{"replication_factor", 3},
                     {"timeout_ms", store_timeout_ms}};
  std::vector<std::string> answers;
  bool made = wait_until(
    [&] {
      auto a = rpc(majority, "create_store",
                   {{"store", "second"}, {"config", config}});
      answers.push_back(brief(a, 300));
      // A retry after `timeout` may find it made: already_exists.
      return a.contains("result")
             || a["error"]["data"].value("reason", "") == "already_exists";
    },
    progress_timeout, 200ms);
  CHECK_MESSAGE(made, "create_store on the majority side:" << lines(answers));
  // The new store takes appends on the majority side.
  auto one = make_events(1); // the same event id on every retry
  auto appended = wait_until(
    [&] {
      auto a = rpc(majority, "append_events",
                   {{"store", "second"},
                    {"stream", "s"},
                    {"expected_version", -1},
                    {"events", one}});
      return a.contains("result");
    },
    progress_timeout, 200ms);
  CHECK_MESSAGE(appended, "the new store takes no appends on the majority "
                          "side");
  auto refused = rpc(minority, "create_store",
                     {{"store", "third"}, {"config", config}});
  CHECK_MESSAGE(!refused.contains("result"),
                "create_store on the minority side: " << brief(refused));
  auto reason = refused["error"]["data"].value("reason", "");
  CHECK_MESSAGE((reason == "unavailable" || reason == "timeout"),
                brief(refused));
  nc.net.heal();
  json listed;
  CHECK_MESSAGE(wait_until(
                  [&] {
                    listed = rpc(minority, "list_stores");
                    return listed.contains("result")
                           && listed["result"]["stores"].contains("second");
                  },
                  progress_timeout, 200ms),
                "node3 does not list the store made while it was cut off: "
                  << brief(listed));
  // A store refused as unavailable was not made behind the client's back
  // (after `timeout` the outcome is open).
  if (reason == "unavailable")
    CHECK_FALSE(listed["result"]["stores"].contains("third"));
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
