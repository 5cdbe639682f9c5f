// The cluster suite: real cxesdb-node processes on 127.0.0.1 forming a
// cluster (tests/integration/cluster.hpp), under a steady append load from
// several clients while nodes are killed, frozen, restarted and added. After
// each run every replica is read from its store.db and checked against
// what the clients were told (tests/integration/history_check.hpp): every
// acknowledged append present exactly once, the same order on every
// replica, positions and event numbers without gaps (protocol.md sections 5
// and 6).
//
// docs/testing.md describes the suite.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/workload.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/security/certs.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// Prints a line to the test's log. Not doctest's MESSAGE: that would repeat
/// each case's INFO (every node's log tail) on success.
#define NOTE(expr)                                                             \
  do {                                                                         \
    std::cout << "note: " << expr << std::endl;                               \
  } while (false)

/// The stores' `timeout_ms`: how long a store may take to answer an append.
constexpr int store_timeout_ms = 2000;

/// What an answer may take beyond the store's timeout on a busy machine.
constexpr int answer_margin_ms = 3000;

/// How long the nodes may take to see each other after they start.
constexpr auto cluster_up_timeout = 60s;

/// How long replicas may take to apply what was acknowledged once the load
/// stops.
constexpr auto converge_timeout = 30s;

/// The acceptance criterion of the cluster issue: after the leader of a store
/// dies, some node serves appends again within this time.
constexpr auto failover_max = 3s;

cluster_options three_nodes() {
  cluster_options opts;
  opts.nodes = 3;
  return opts;
}

json store_config(int replication_factor) {
  return {{"replication_factor", replication_factor},
          {"timeout_ms", store_timeout_ms}};
}

/// Creates `store` through node `via`, retrying while the cluster answers
/// `unavailable` (its catalog may still be electing a leader).
void create_store(cluster& c, size_t via, const std::string& store,
                  int replication_factor) {
  auto client = c.client(via);
  json last;
  auto deadline = clock_type::now() + 30s;
  for (;;) {
    last = rpc(client, "create_store",
               {{"store", store}, {"config", store_config(replication_factor)}});
    if (last.contains("result"))
      break;
    auto reason = last["error"]["data"].value("reason", "");
    REQUIRE_MESSAGE(reason == "unavailable", "create_store: " << brief(last));
    REQUIRE_MESSAGE(clock_type::now() < deadline,
                    "create_store still unavailable: " << brief(last));
    std::this_thread::sleep_for(100ms);
  }
  auto r = result_of(last, "create_store " + store);
  CHECK(r.value("store", "") == store);
  CHECK(r.value("config", json::object()).value("replication_factor", 0)
        == replication_factor);
}

/// Waits until cluster_status names a leader for `store`; returns its index.
size_t wait_leader(cluster& c, const std::string& store) {
  std::optional<size_t> leader;
  bool found = wait_until(
    [&] {
      leader = c.leader_of(store);
      return leader.has_value();
    },
    30s, 100ms);
  REQUIRE_MESSAGE(found, "no leader for " << store << " in cluster_status");
  return *leader;
}

/// The start of most cases: the three nodes see each other, store "orders"
/// with 3 replicas is created through node 1 and has a leader, whose index
/// is returned.
size_t orders_store(cluster& c) {
  REQUIRE_MESSAGE(c.wait_all_up(cluster_up_timeout), "no cluster formed");
  create_store(c, 1, "orders", 3);
  return wait_leader(c, "orders");
}

/// Waits until the load has `n` more acknowledged batches than now.
bool wait_acks(const workload& w, size_t n, std::chrono::milliseconds timeout) {
  auto target = w.acked() + n;
  return wait_until([&] { return w.acked() >= target; }, timeout);
}

std::string lines(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += "\n  " + x;
  return out;
}

/// Checks what the writers learned: nothing unexpected, something written.
void check_load(const workload& w) {
  auto bad = w.unexpected();
  CHECK_MESSAGE(bad.empty(), bad.size() << " unexpected answers:" << lines(bad));
  NOTE("acknowledged batches: " << w.acked() << "; retried answers: "
                                   << w.retry_summary());
  CHECK(w.acked() > 0);
}

/// Reads the replicas of `store` on `nodes` (all must have stopped) and runs
/// the history checker; nodes in `lagging` may hold a prefix.
void check_replicas(cluster& c, const std::vector<sent_append>& sent,
                    const std::string& store, const std::vector<size_t>& nodes,
                    const std::set<size_t>& lagging = {}) {
  std::vector<replica_state> replicas;
  for (auto i : nodes) {
    REQUIRE_MESSAGE(c.has_replica(i, store),
                    cluster::name(i) << " has no " << c.replica_path(i, store));
    replicas.push_back(c.replica(i, store, lagging.count(i) > 0));
  }
  auto report = check_history(sent, replicas);
  CHECK_MESSAGE(report.ok(), report.message());
}

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

/// After a run in which node `victim` went down: the survivors converge and
/// pass the checker with the victim as a possibly lagging replica; then the
/// whole cluster restarts, the victim catches up, and all replicas pass
/// with none lagging.
void check_after_failure(cluster& c, const workload& w,
                         const std::string& store, size_t victim) {
  auto sent = w.history();
  auto rows_min = static_cast<size_t>(w.last_acked_position() + 1);
  auto survivors = all_but(c, victim);
  CHECK_MESSAGE(c.wait_replicas_agree(store, survivors, rows_min,
                                      converge_timeout),
                "the surviving replicas did not converge");
  c.shutdown_all();
  check_replicas(c, sent, store, all_nodes(c), {victim});
  // Catch-up: the victim needs a leader to learn from, so all restart.
  for (auto i : all_nodes(c))
    c.restart(i);
  REQUIRE_MESSAGE(c.wait_all_up(cluster_up_timeout),
                  "the restarted nodes do not see each other");
  CHECK_MESSAGE(c.wait_replicas_agree(store, all_nodes(c), rows_min,
                                      converge_timeout),
                cluster::name(victim) << " did not catch up");
  c.shutdown_all();
  check_replicas(c, sent, store, all_nodes(c));
}

} // namespace

// -- a: any node serves any request -------------------------------------------

namespace {

/// Case a: a store created through node 1 takes appends through node 2 and
/// reads through node 3, with linearizable reads, the leader's figures
/// through every node and every replica checked at the end. Run plain and
/// under cluster TLS with a cluster secret.
void serve_through_every_node(const cluster_options& opts) {
  cluster c{opts};
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(cluster_up_timeout), "no cluster formed");
  create_store(c, 1, "orders", 3);
  auto writer = c.client(2);
  auto reader = c.client(3);
  std::vector<sent_append> sent;
  int64_t version = -1;
  for (int n = 0; n < 5; ++n) {
    auto events = make_events(2, "Placed", n * 2);
    auto r = ok(writer, "append_events",
                {{"store", "orders"},
                 {"stream", "order-1"},
                 {"expected_version", version},
                 {"events", events}});
    sent_append s{"order-1", {}, true, r["version"].get<int64_t>(),
                  r["position"].get<int64_t>()};
    for (auto& e : events)
      s.event_ids.push_back(e["event_id"].get<std::string>());
    CHECK(s.version == version + 2);
    version = s.version;
    sent.push_back(s);
  }
  // Linearizable reads: node 3 sees every acknowledged append at once.
  auto events = stream_events(reader, "orders", "order-1");
  REQUIRE(events.size() == 10);
  size_t k = 0;
  for (auto& s : sent)
    for (auto& id : s.event_ids) {
      CHECK(events[k]["event_id"] == id);
      CHECK(events[k]["event_number"] == static_cast<int64_t>(k));
      ++k;
    }
  CHECK(ok(reader, "get_version", {{"store", "orders"}, {"stream", "order-1"}})
          ["version"]
        == version);
  auto all = read_all_events(reader, "orders");
  CHECK(all == events);
  // The same through node 1, which created the store.
  auto first = c.client(1);
  CHECK(stream_events(first, "orders", "order-1") == events);
  // get_store_status through any node: the leader's figures, its name and
  // the members, as cluster_status has them.
  auto leader = c.store_status(3, "orders");
  REQUIRE(leader.has_value());
  for (auto* client : {&first, &writer, &reader}) {
    auto st = ok(*client, "get_store_status", {{"store", "orders"}});
    CHECK(st["events"] == 10);
    CHECK(st["streams"] == 1);
    CHECK(st["last_position"] == 9);
    CHECK(st["leader"] == (*leader)["leader"]);
    CHECK(st["members"].size() == 3);
  }
  CHECK_MESSAGE(c.wait_replicas_agree("orders", all_nodes(c), 10,
                                      converge_timeout),
                "the replicas did not converge");
  c.shutdown_all();
  check_replicas(c, sent, "orders", all_nodes(c));
}

} // namespace

TEST_CASE("a store created through one node takes appends through a second "
          "and reads through a third") {
  serve_through_every_node(three_nodes());
}

TEST_CASE("the same under cluster TLS and a cluster secret") {
  // Certificates from a CA made for the test (tests/security/certs.hpp);
  // every node's cluster and API ports speak TLS, and peers prove the
  // secret before they count as members (protocol section 8).
  temp_dir pki{"cxesdb-cluster-pki"};
  auto ca = make_ca(pki.path, "ca");
  auto node = make_cert(pki.path, "node", ca);
  auto secret = pki.path + "/secret";
  std::ofstream{secret} << "a-cluster-secret-for-the-suite-0123456789\n";
  auto opts = three_nodes();
  opts.extra_args = {"--cluster-tls-cert", node.cert, "--cluster-tls-key",
                     node.key, "--cluster-tls-ca", ca.cert,
                     "--cluster-secret-file", secret};
  serve_through_every_node(opts);
}

/// Starts appending to `store` through every node (the workload's
/// writers use exact expected versions) and waits until it gets going.
std::unique_ptr<workload> start_load(cluster& c, const std::string& store) {
  load_options lo;
  lo.store = store;
  lo.call_timeout_ms = store_timeout_ms + answer_margin_ms;
  auto w = std::make_unique<workload>(c.client_ports(), lo);
  w->start();
  REQUIRE_MESSAGE(wait_acks(*w, 30, 30s), "the load does not get going");
  return w;
}

/// Kills (SIGKILL) a member of "orders" other than `leader`; returns it.
size_t kill_a_follower(cluster& c, size_t leader) {
  auto members = c.members_of("orders");
  REQUIRE(members.size() == 3);
  auto follower = members[0] != leader ? members[0] : members[1];
  NOTE("killing a follower, " << cluster::name(follower));
  c.kill(follower);
  return follower;
}

// -- b: the leader dies --------------------------------------------------------

TEST_CASE("killing a store's leader under load: appends resume within 3 s and "
          "no acknowledged append is lost"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  orders_store(c);
  auto load = start_load(c, "orders");
  auto& w = *load;
  auto leader = wait_leader(c, "orders");
  NOTE("killing the leader, " << cluster::name(leader));
  auto killed_at = clock_type::now();
  c.kill(leader);
  bool resumed = wait_acks(w, 30, 30s);
  w.stop();
  CHECK_MESSAGE(resumed, "appends did not resume after the leader died");
  auto gap = w.first_ack_after(killed_at);
  REQUIRE_MESSAGE(gap.has_value(), "no append succeeded after the kill");
  NOTE("first acknowledged append after the kill: " << gap->count()
                                                       << " ms");
  // The acceptance criterion, the suite's only timing assertion.
  REQUIRE(*gap < failover_max);
  check_load(w);
  check_after_failure(c, w, "orders", leader);
}

// -- c: a follower dies --------------------------------------------------------

TEST_CASE("killing a follower under load loses nothing and the follower "
          "catches up"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  auto leader = orders_store(c);
  auto load = start_load(c, "orders");
  auto& w = *load;
  auto follower = kill_a_follower(c, leader);
  // A majority is left: appends go on.
  bool going = wait_acks(w, 30, 30s);
  w.stop();
  CHECK_MESSAGE(going, "appends stopped when a follower died");
  check_load(w);
  check_after_failure(c, w, "orders", follower);
}

// -- c2: a follower behind the compacted log ------------------------------------

TEST_CASE("a follower whose missing entries were compacted catches up "
          "through the leader's database image, with the leader under load") {
  auto opts = three_nodes();
  // Compaction every 100 entries, keeping 10, and small chunks: the victim
  // (dead, so it pins nothing) misses far more than the log keeps, and its
  // image takes many chunks; once it is back, its progress pins the
  // leader's log, so the entries after its image are still there.
  opts.extra_args = {"--compact-every-entries", "100",
                     "--compact-keep-entries", "10",
                     "--snapshot-chunk-bytes", "8192"};
  cluster c{opts};
  INFO(c.post_mortem());
  auto leader = orders_store(c);
  auto load = start_load(c, "orders");
  auto& w = *load;
  auto follower = kill_a_follower(c, leader);
  // Down for longer than a leader waits for a stalled follower (5 election
  // timeouts, 5 s) before its log moves on without it; each acknowledged
  // batch is at least one entry, so it moves on by several compactions.
  auto down_since = clock_type::now();
  bool going = wait_acks(w, 400, 60s);
  std::this_thread::sleep_until(down_since + 7s);
  CHECK_MESSAGE(going, "appends stopped when a follower died");
  NOTE("restarting " << cluster::name(follower) << " under load");
  c.restart(follower);
  // It holds everything acknowledged before its restart, while the load
  // goes on (the replicas agree only once it stops).
  auto rows_min = static_cast<size_t>(w.last_acked_position() + 1);
  size_t rows = 0;
  bool caught_up = wait_until(
    [&] {
      try {
        rows = read_replica_file(c.replica_path(follower, "orders")).size();
      } catch (const std::exception&) {
        rows = 0; // opened or replaced just now
      }
      return rows >= rows_min;
    },
    converge_timeout, 200ms);
  CHECK_MESSAGE(caught_up, cluster::name(follower) << " did not catch up: "
                             << rows << " of " << rows_min << " events");
  // It caught up from an image, not from the log (which no longer has
  // what it missed), and goes on from the log while the load runs.
  // (The line follows the install by a message: wait for it.)
  CHECK_MESSAGE(wait_until(
                  [&] {
                    return c.node(follower).log().find(
                             "raft group orders: installed the leader's image")
                           != std::string::npos;
                  },
                  10s),
                cluster::name(follower) << " installed no image");
  CHECK(wait_acks(w, 50, 30s));
  w.stop();
  check_load(w);
  auto sent = w.history();
  rows_min = static_cast<size_t>(w.last_acked_position() + 1);
  CHECK_MESSAGE(c.wait_replicas_agree("orders", all_nodes(c), rows_min,
                                      converge_timeout),
                "the replicas did not converge after the load");
  c.shutdown_all();
  check_replicas(c, sent, "orders", all_nodes(c));
}

// -- d: a node hangs -----------------------------------------------------------

TEST_CASE("a leader frozen with SIGSTOP for a few seconds is replaced, "
          "rejoins on SIGCONT, and nothing acknowledged is lost"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  orders_store(c);
  auto load = start_load(c, "orders");
  auto& w = *load;
  auto frozen = wait_leader(c, "orders");
  NOTE("freezing the leader, " << cluster::name(frozen));
  auto frozen_at = clock_type::now();
  c.stop(frozen);
  // cluster_status through another node answers while the frozen leader
  // cannot: each store's state is waited for at most status_timeout_ms.
  {
    auto other = frozen == 1 ? size_t{2} : size_t{1};
    auto st = c.try_status(other, 3000);
    REQUIRE_MESSAGE(st.has_value(), "no cluster_status answer within 3 s "
                                    "while a leader is frozen");
    CHECK((*st)["stores"].contains("orders"));
  }
  // The other two elect a leader and go on while the old one hangs.
  bool going = wait_acks(w, 20, 30s);
  // Frozen for at least 3 s in all: longer than any election timeout, so
  // the old leader comes back to a newer term.
  wait_until([&] { return clock_type::now() - frozen_at >= 3s; }, 10s);
  c.cont(frozen);
  CHECK_MESSAGE(going, "appends did not go on while the leader was frozen");
  bool after = wait_acks(w, 20, 30s);
  w.stop();
  CHECK_MESSAGE(after, "appends did not go on after SIGCONT");
  check_load(w);
  auto sent = w.history();
  auto rows_min = static_cast<size_t>(w.last_acked_position() + 1);
  // The thawed node catches up without a restart.
  CHECK_MESSAGE(c.wait_replicas_agree("orders", all_nodes(c), rows_min,
                                      converge_timeout),
                "the replicas did not converge after SIGCONT");
  c.shutdown_all();
  check_replicas(c, sent, "orders", all_nodes(c));
}

// -- e: no quorum ----------------------------------------------------------------

TEST_CASE("with two of three nodes dead appends fail in time and never "
          "succeed; one node back and they succeed again"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  auto keep = orders_store(c); // the hardest survivor: the leader
  auto client = c.client(keep);
  std::vector<sent_append> sent;
  int64_t version = -1;
  auto append = [&](const json& events, int timeout_ms) {
    return client.call("append_events",
                       {{"store", "orders"},
                        {"stream", "s"},
                        {"expected_version", version},
                        {"events", events}},
                       timeout_ms);
  };
  for (int n = 0; n < 3; ++n) {
    auto events = make_events(2);
    auto resp = append(events, rpc_timeout_ms);
    REQUIRE_MESSAGE(resp.has_value(), "no answer to an append");
    auto r = result_of(*resp, "append");
    sent.push_back({"s", {}, true, r["version"].get<int64_t>(),
                    r["position"].get<int64_t>()});
    for (auto& e : events)
      sent.back().event_ids.push_back(e["event_id"].get<std::string>());
    version = r["version"].get<int64_t>();
  }
  auto dead = all_but(c, keep);
  for (auto i : dead)
    c.kill(i);
  auto killed_at = clock_type::now();
  // One batch, retried as a client would: each answer must be an error,
  // within the store's timeout (plus a margin), never a success.
  auto events = make_events(1, "NoQuorum");
  sent_append pending{"s", {events[0]["event_id"].get<std::string>()}, false};
  std::vector<std::string> reasons;
  for (int attempt = 0;
       attempt < 4 || clock_type::now() - killed_at < 4s; ++attempt) {
    REQUIRE(attempt < 50);
    auto sent_at = clock_type::now();
    auto resp = append(events, store_timeout_ms + answer_margin_ms);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - sent_at);
    REQUIRE_MESSAGE(resp.has_value(),
                    "no answer within " << store_timeout_ms + answer_margin_ms
                                        << " ms without a quorum");
    REQUIRE_MESSAGE(resp->contains("error"),
                    "an append succeeded without a quorum: " << brief(*resp));
    auto reason = (*resp)["error"]["data"].value("reason", "");
    reasons.push_back(reason + " after " + std::to_string(took.count())
                      + " ms");
    REQUIRE_MESSAGE((reason == "unavailable" || reason == "timeout"),
                    "unexpected answer without a quorum: " << brief(*resp));
    std::this_thread::sleep_for(200ms);
  }
  NOTE("answers without a quorum:" << lines(reasons));
  // cluster_status still answers without a quorum (each store's state is
  // waited for at most status_timeout_ms, 1 s): every store is listed, with
  // no leader, and the dead nodes are down.
  {
    auto sent_at = clock_type::now();
    auto st = c.try_status(keep, 3000);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - sent_at);
    NOTE("cluster_status without a quorum answered after " << took.count()
                                                           << " ms");
    REQUIRE_MESSAGE(st.has_value(),
                    "no cluster_status answer within 3 s without a quorum");
    for (auto& name : {"orders", "default"}) {
      CAPTURE(name);
      REQUIRE((*st)["stores"].contains(name));
      CHECK((*st)["stores"][name]["leader"].is_null());
    }
  }
  // get_store_status too: its status, and null where the leader would
  // have answered, within the same bound.
  {
    auto sent_at = clock_type::now();
    auto resp = client.call("get_store_status", {{"store", "orders"}}, 3000);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock_type::now() - sent_at);
    NOTE("get_store_status without a quorum answered after " << took.count()
                                                             << " ms");
    REQUIRE_MESSAGE(resp.has_value(),
                    "no get_store_status answer within 3 s without a quorum");
    auto r = result_of(*resp, "get_store_status");
    CHECK(r["leader"].is_null());
    CHECK(r["events"].is_null());
    CHECK(r["members"].size() == 3);
  }
  // protocol.md: "unavailable: the store has no leader or no quorum right
  // now". Once the node has had time to notice (an election timeout),
  // it says so rather than letting requests time out.
  CHECK_MESSAGE(reasons.back().rfind("unavailable", 0) == 0,
                "the last answer, seconds after losing the quorum, is not "
                "unavailable");
  // One node back: a majority again. The same batch (same event ids) is
  // written exactly once, whatever became of the earlier attempts.
  c.restart(dead[0]);
  json last;
  bool back = wait_until(
    [&] {
      auto resp = append(events, store_timeout_ms + answer_margin_ms);
      if (!resp)
        return false;
      last = *resp;
      return resp->contains("result");
    },
    30s, 200ms);
  REQUIRE_MESSAGE(back, "appends do not succeed with two of three nodes up; "
                        "last answer: "
                          << brief(last));
  pending.acked = true;
  pending.version = last["result"]["version"].get<int64_t>();
  pending.position = last["result"]["position"].get<int64_t>();
  CHECK(pending.version == version + 1);
  sent.push_back(pending);
  auto read = stream_events(client, "orders", "s");
  CHECK(read.size() == 7);
  CHECK_MESSAGE(c.wait_replicas_agree("orders", {keep, dead[0]}, 7,
                                      converge_timeout),
                "the restarted node did not catch up");
  c.shutdown_all();
  check_replicas(c, sent, "orders", {keep, dead[0], dead[1]}, {dead[1]});
}

// -- f: a node joins -------------------------------------------------------------

TEST_CASE("a fourth node joins under load and another leaves; every store "
          "keeps its replication factor and no acknowledged append is lost"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(cluster_up_timeout), "no cluster formed");
  create_store(c, 1, "orders", 3);
  create_store(c, 2, "audit", 2);
  wait_leader(c, "orders");
  auto load = start_load(c, "orders");
  auto& w = *load;
  auto four = c.add_node();
  REQUIRE(four == 4);
  // The replication factor of every store, as its config says.
  auto admin = c.client(1);
  auto stores = ok(admin, "list_stores")["stores"];
  REQUIRE(stores.is_object());
  std::map<std::string, size_t> factor;
  for (auto& [id, info] : stores.items())
    factor[id] = info.value("config", json::object())
                   .value("replication_factor", size_t{3});
  CHECK(factor["orders"] == 3);
  CHECK(factor["audit"] == 2);
  json last_status;
  bool settled = wait_until(
    [&] {
      for (auto i : c.alive_nodes()) {
        auto st = c.try_status(i);
        if (!st)
          return false;
        last_status = *st;
        if (!st->contains("nodes") || (*st)["nodes"].size() != 4
            || !c.sees_all_up(i))
          return false;
        auto listed = st->value("stores", json::object());
        for (auto& [id, rf] : factor) {
          auto s = listed.value(id, json::object());
          if (s.value("members", json::array()).size() != rf)
            return false;
        }
      }
      return true;
    },
    60s, 200ms);
  CHECK_MESSAGE(settled, "cluster_status did not settle on 4 nodes up and "
                         "members matching each replication factor; last: "
                           << brief(last_status, 2000));
  CHECK_MESSAGE(wait_acks(w, 20, 30s),
                "appends did not go on after the node joined");
  // A member of "orders" leaves: its replicas move to the others, one
  // membership change at a time, and its copies are deleted.
  auto before = c.members_of("orders");
  REQUIRE(!before.empty());
  auto leaving = before.front();
  INFO("leaving: " << cluster::name(leaving));
  auto left = ok(admin, "leave_cluster", {{"node", cluster::name(leaving)}});
  CHECK(left["left"] == true);
  bool shrunk = wait_until(
    [&] {
      for (auto i : c.alive_nodes()) {
        auto st = c.try_status(i);
        if (!st)
          return false;
        last_status = *st;
        auto listed = st->value("stores", json::object());
        for (auto& [id, rf] : factor) {
          auto m = listed.value(id, json::object())
                     .value("members", json::array());
          if (m.size() != rf)
            return false;
          for (auto& name : m)
            if (name == cluster::name(leaving))
              return false;
        }
      }
      return !c.has_replica(leaving, "orders");
    },
    60s, 200ms);
  CHECK_MESSAGE(shrunk, "the stores did not move off the node that left; "
                        "last: "
                          << brief(last_status, 2000));
  bool going = wait_acks(w, 20, 30s);
  w.stop();
  CHECK_MESSAGE(going, "appends did not go on after a node left");
  check_load(w);
  auto sent = w.history();
  auto rows_min = static_cast<size_t>(w.last_acked_position() + 1);
  auto members = c.members_of("orders");
  REQUIRE(members.size() == 3);
  CHECK_MESSAGE(c.wait_replicas_agree("orders", members, rows_min,
                                      converge_timeout),
                "the replicas of the store's members did not converge");
  c.shutdown_all();
  check_replicas(c, sent, "orders", members);
}

// -- g: cluster_status -----------------------------------------------------------

TEST_CASE("cluster_status lists every node up, itself once, and each store's "
          "leader among its members"
          ) {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  orders_store(c);
  const std::set<std::string> names{"node1", "node2", "node3"};
  for (auto i : all_nodes(c)) {
    auto client = c.client(i);
    auto st = ok(client, "cluster_status");
    INFO("cluster_status through " << cluster::name(i) << ": " << brief(st));
    CHECK(st.value("node", "") == cluster::name(i));
    REQUIRE(st["nodes"].is_array());
    CHECK(st["nodes"].size() == 3);
    std::set<std::string> listed;
    size_t selves = 0;
    for (auto& n : st["nodes"]) {
      REQUIRE(n.is_object());
      REQUIRE(n["name"].is_string());
      listed.insert(n["name"].get<std::string>());
      CHECK(n["address"].is_string());
      CHECK(!n.value("address", "").empty());
      CHECK(n.value("status", "") == "up");
      REQUIRE(n["self"].is_boolean());
      if (n["self"].get<bool>()) {
        ++selves;
        CHECK(n["name"] == cluster::name(i));
      }
    }
    CHECK(listed == names);
    CHECK(selves == 1);
    REQUIRE(st["stores"].is_object());
    REQUIRE(st["stores"].contains("orders"));
    for (auto& [id, s] : st["stores"].items()) {
      INFO("store " << id);
      REQUIRE(s["members"].is_array());
      std::set<std::string> members;
      for (auto& m : s["members"]) {
        REQUIRE(m.is_string());
        CHECK(names.count(m.get<std::string>()) == 1);
        members.insert(m.get<std::string>());
      }
      CHECK(members.size() == s["members"].size());
      CHECK(s["term"].is_number_integer());
      CHECK(s.value("term", -1) >= 0);
      CHECK(s["commit_index"].is_number_integer());
      CHECK(s.value("commit_index", -1) >= 0);
      CHECK((s["leader"].is_null() || s["leader"].is_string()));
      if (s["leader"].is_string())
        CHECK(members.count(s["leader"].get<std::string>()) == 1);
    }
    auto& orders = st["stores"]["orders"];
    CHECK(orders["members"].size() == 3);
    REQUIRE_MESSAGE(orders["leader"].is_string(),
                    "the created store has no leader");
  }
}

// -- h: a persistent subscriber outlives the leader's node ---------------------

namespace {

/// Calls `method` through a connection to `port`, reconnecting after a lost
/// answer and retrying error answers, until a result or `deadline`; the
/// last answer (or nothing). Errors seen meanwhile go to `errors`.
std::optional<json> call_retrying(json_client& c, uint16_t port,
                                  const std::string& method, const json& params,
                                  clock_type::time_point deadline,
                                  std::vector<std::string>& errors) {
  std::optional<json> last;
  while (clock_type::now() < deadline) {
    if (!c.connected() && c.connect("127.0.0.1", port, 2000)) {
      std::this_thread::sleep_for(100ms);
      continue;
    }
    last = c.call(method, params, store_timeout_ms + answer_margin_ms);
    if (!last) {
      errors.push_back(method + ": no answer");
      c.close();
      continue;
    }
    if (last->contains("result"))
      return last;
    errors.push_back(method + ": " + brief(*last, 200));
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

} // namespace

TEST_CASE("killing the store leader's node during delivery: a persistent "
          "subscriber reconnected to another node gets every acknowledged "
          "event at least once and its checkpoint is not behind its "
          "answered acks") {
  cluster c{three_nodes()};
  INFO(c.post_mortem());
  auto leader = orders_store(c);
  auto survivors = all_but(c, leader);
  REQUIRE(survivors.size() == 2);
  auto ports = c.client_ports();
  const std::string sub_name = "durable";
  const json sub_params{{"store", "orders"},      {"type", "by_stream"},
                        {"selector", "$all"},     {"name", sub_name},
                        {"start_from", "origin"}, {"max_in_flight", 32}};

  // The subscriber starts on the leader's node, so that the kill takes its
  // connection and the hub serving it down with the leader.
  json_client sub = c.client(leader);
  auto saved = ok(sub, "save_subscription", sub_params);
  CHECK(saved.value("subscription", "") == sub_name);
  CHECK(saved.value("checkpoint", 0) == -1);

  // One event per append through a survivor, paced so that delivery spans
  // the kill; acknowledged positions are recorded, failures retried (a
  // retried append may be stored twice: at least once is all that is
  // checked).
  constexpr int total = 300;
  std::mutex mtx;
  std::vector<int64_t> acked_appends; // guarded by mtx
  std::vector<std::string> append_errors; // guarded by mtx
  std::atomic<int> appended{0};
  std::atomic<bool> appender_done{false};
  std::thread appender{[&] {
    json_client a;
    std::vector<std::string> errors;
    for (int n = 0; n < total; ++n) {
      json params{{"store", "orders"},
                  {"stream", "order-" + std::to_string(n % 5)},
                  {"expected_version", "any"},
                  {"events", json::array({make_event("Placed", {{"n", n}})})}};
      auto r = call_retrying(a, ports[survivors[0] - 1], "append_events",
                             params, clock_type::now() + 15s, errors);
      std::lock_guard<std::mutex> guard{mtx};
      append_errors.insert(append_errors.end(), errors.begin(), errors.end());
      errors.clear();
      if (!r || !r->contains("result")) {
        append_errors.push_back("append " + std::to_string(n) + " gave up");
        break;
      }
      acked_appends.push_back((*r)["result"]["position"].get<int64_t>());
      ++appended;
      std::this_thread::sleep_for(10ms);
    }
    appender_done = true;
  }};
  struct joiner {
    std::thread& t;
    ~joiner() {
      if (t.joinable())
        t.join();
    }
  } join_appender{appender};

  std::set<int64_t> delivered;
  std::set<int64_t> delivered_after_kill;
  bool killed = false;
  int64_t answered_ack = -1;  // highest position whose ack was answered
  int64_t last_checkpoint = -1; // checkpoints answered, never backwards
  size_t deliveries = 0;
  // Reads one notification of `conn`; an event is recorded and acked (the
  // ack waits for its answer, or is only sent, or not even that).
  enum class ack_mode { wait, send_only, none };
  auto take_one = [&](json_client& conn, int timeout_ms, ack_mode mode) -> bool {
    auto line = conn.read_line(timeout_ms);
    if (!line)
      return false;
    auto n = json::parse(*line, nullptr, false);
    REQUIRE_MESSAGE(n.is_object(), "not a JSON object: " << *line);
    if (n.value("method", "") != "event") {
      NOTE("notification: " << brief(n));
      return true;
    }
    auto& p = n["params"];
    CHECK(p.value("subscription", "") == sub_name);
    auto pos = p["event"]["position"].get<int64_t>();
    delivered.insert(pos);
    if (killed)
      delivered_after_kill.insert(pos);
    ++deliveries;
    if (mode == ack_mode::none)
      return true;
    json ack{{"store", "orders"}, {"subscription", sub_name}, {"position", pos}};
    if (mode == ack_mode::send_only) {
      conn.send({{"jsonrpc", "2.0"}, {"id", 999999}, {"method", "ack_event"},
                 {"params", ack}});
      return true;
    }
    auto resp = conn.call("ack_event", ack, store_timeout_ms + answer_margin_ms);
    if (!resp)
      return false;
    if (!resp->contains("result")) {
      NOTE("ack_event " << pos << ": " << brief(*resp));
      return true;
    }
    auto cp = (*resp)["result"].value("checkpoint", int64_t{-2});
    CHECK_MESSAGE(cp >= last_checkpoint, "checkpoint went back from "
                                           << last_checkpoint << " to " << cp);
    CHECK_MESSAGE(cp >= pos, "ack of " << pos << " answered checkpoint " << cp);
    last_checkpoint = std::max(last_checkpoint, cp);
    answered_ack = std::max(answered_ack, pos);
    return true;
  };

  // Before the kill: take and ack until half the appends are acknowledged
  // and the subscriber got some events.
  auto deadline = clock_type::now() + 20s;
  while (!(appended >= total / 2 && answered_ack >= 0)) {
    REQUIRE_MESSAGE(clock_type::now() < deadline,
                    "before the kill: " << appended << " appends, "
                                        << delivered.size() << " delivered");
    take_one(sub, 100, ack_mode::wait);
  }
  // Then events delivered but not acked (up to max_in_flight), and one ack
  // in flight as the node dies: sent, never answered.
  auto stop_acking = clock_type::now() + 300ms;
  while (clock_type::now() < stop_acking)
    take_one(sub, 50, ack_mode::none);
  take_one(sub, 500, ack_mode::send_only);
  auto delivered_before = delivered;
  NOTE("killing " << cluster::name(leader) << ", the leader and the "
                  << "subscriber's node, after " << appended
                  << " appends; acks answered up to " << answered_ack);
  auto before_kill = answered_ack;
  c.kill(leader);
  sub.close();
  killed = true;

  // Reconnect to the other survivor: save_subscription attaches and resumes
  // after the checkpoint.
  auto other = survivors[1];
  std::vector<std::string> sub_errors;
  json_client again;
  auto attached = call_retrying(again, ports[other - 1], "save_subscription",
                                sub_params, clock_type::now() + 15s,
                                sub_errors);
  NOTE("save_subscription through " << cluster::name(other)
                                    << " retried: " << lines(sub_errors));
  REQUIRE_MESSAGE(attached.has_value(), "no answer to save_subscription");
  REQUIRE_MESSAGE(attached->contains("result"),
                  "save_subscription: " << brief(*attached));
  auto resumed_at = (*attached)["result"].value("checkpoint", int64_t{-2});
  NOTE("reattached at checkpoint " << resumed_at);
  CHECK_MESSAGE(resumed_at >= before_kill,
                "the checkpoint " << resumed_at << " is behind the answered "
                                  << "ack of " << before_kill);
  last_checkpoint = std::max(last_checkpoint, resumed_at);

  // After: take and ack until every acknowledged append was delivered.
  auto missing = [&] {
    std::vector<int64_t> out;
    std::lock_guard<std::mutex> guard{mtx};
    for (auto p : acked_appends)
      if (delivered.count(p) == 0)
        out.push_back(p);
    return out;
  };
  deadline = clock_type::now() + 20s;
  while (!(appender_done && missing().empty())
         && clock_type::now() < deadline)
    take_one(again, 100, ack_mode::wait);
  appender.join();
  {
    std::lock_guard<std::mutex> guard{mtx};
    NOTE("appends acknowledged: " << acked_appends.size() << "; retried: "
                                  << lines(append_errors));
    CHECK(acked_appends.size() == static_cast<size_t>(total));
  }
  auto lost = missing();
  CHECK_MESSAGE(lost.empty(), lost.size() << " acknowledged events never "
                              << "delivered, first "
                              << (lost.empty() ? -1 : lost.front()));
  // At least once: what was delivered before the kill beyond the checkpoint
  // the subscription resumed from comes again.
  std::vector<int64_t> not_again;
  for (auto p : delivered_before)
    if (p > resumed_at && delivered_after_kill.count(p) == 0)
      not_again.push_back(p);
  CHECK_MESSAGE(not_again.empty(),
                not_again.size() << " events delivered before the kill after "
                                 << "checkpoint " << resumed_at
                                 << " not delivered again");
  NOTE("delivered before the kill: " << delivered_before.size()
                                     << ", up to " << *delivered_before.rbegin()
                                     << "; redelivered after it: "
                                     << delivered_after_kill.size()
                                     - (delivered.size()
                                        - delivered_before.size()));
  NOTE("deliveries: " << deliveries << " of " << delivered.size()
                      << " positions; acks answered up to " << answered_ack);

  // get_subscriptions agrees: the checkpoint covers every answered ack.
  auto entry = json{};
  bool covered = wait_until(
    [&] {
      auto r = again.call("get_subscriptions", {{"store", "orders"}},
                          store_timeout_ms + answer_margin_ms);
      if (!r || !r->contains("result"))
        return false;
      for (auto& s : (*r)["result"]["subscriptions"])
        if (s.value("subscription", "") == sub_name)
          entry = s;
      return entry.is_object()
             && entry.value("checkpoint", int64_t{-2}) >= answered_ack;
    },
    10s, 200ms);
  CHECK_MESSAGE(covered, "get_subscriptions: " << brief(entry)
                                               << "; acks answered up to "
                                               << answered_ack);
  CHECK(entry.value("persistent", false));
  CHECK(entry.value("subscribers", 0) == 1);
}
