// The identical configuration (docs/operations.md, "Starting a cluster"):
// three real cxesdb-node processes, each started with one `--seeds` list
// naming all three (itself included), in every interleaving of their
// starts: all at once, one by one (the founding seed first, or last), one
// late, one killed and restarted during bootstrap. Each run must end with
// one cluster: one catalog (a store created through one node is listed by
// every node), one default store whose group spans the three nodes, and
// appends through every node. Only the founding seed (the seed that sorts
// first: host, then port as a number) ever founds.
//
// docs/testing.md describes the suite.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// How long a node may take to reach a log line or the cluster to settle
/// on this busy machine.
constexpr auto settle_timeout = 90s;

/// The log line of a node's bootstrap decision (stores/bootstrap.hpp).
constexpr const char* found_line = "bootstrap: found";
constexpr const char* join_line = "bootstrap: join";
constexpr const char* wait_line = "bootstrap: waiting";
constexpr const char* listening_line = "listening for clients";

cluster_options identical() {
  cluster_options opts;
  opts.nodes = 3;
  opts.identical_seeds = true;
  opts.start_timeout = settle_timeout;
  return opts;
}

/// The founding seed by the rule docs/operations.md states: the seed that
/// sorts first, by host, then port as a number (every node binds
/// 127.0.0.1 here, so the lowest cluster port).
size_t founding_index(cluster& c) {
  size_t best = 1;
  for (size_t i = 2; i <= c.size(); ++i)
    if (*c.node(i).options().cluster_port
        < *c.node(best).options().cluster_port)
      best = i;
  return best;
}

/// The other two nodes, in index order.
std::vector<size_t> others(cluster& c, size_t skip) {
  std::vector<size_t> out;
  for (size_t i = 1; i <= c.size(); ++i)
    if (i != skip)
      out.push_back(i);
  return out;
}

bool log_has(cluster& c, size_t i, const std::string& text) {
  return c.node(i).log().find(text) != std::string::npos;
}

void wait_log(cluster& c, size_t i, const std::string& text) {
  REQUIRE_MESSAGE(wait_until([&] { return log_has(c, i, text); },
                             settle_timeout),
                  cluster::name(i) << " never logged '" << text << "'");
}

/// Creates `store` through node `via`, retrying while the cluster answers
/// `unavailable`.
void create_store(cluster& c, size_t via, const std::string& store) {
  auto client = c.client(via);
  json last;
  auto deadline = clock_type::now() + settle_timeout;
  for (;;) {
    last = rpc(client, "create_store",
               {{"store", store}, {"config", {{"replication_factor", 3}}}});
    if (last.contains("result"))
      return;
    auto reason = last["error"]["data"].value("reason", "");
    REQUIRE_MESSAGE(reason == "unavailable", "create_store: " << brief(last));
    REQUIRE_MESSAGE(clock_type::now() < deadline,
                    "create_store still unavailable: " << brief(last));
    std::this_thread::sleep_for(100ms);
  }
}

/// The names of `members` in a cluster_status store entry, sorted.
std::vector<std::string> member_names(const json& entry) {
  std::vector<std::string> out;
  for (auto& m : entry.value("members", json::array()))
    if (m.is_string())
      out.push_back(m.get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

/// The stores that cluster_status through node `i` lists, sorted; nothing
/// when it does not answer.
std::optional<std::vector<std::string>> store_list(cluster& c, size_t i) {
  auto st = c.try_status(i);
  if (!st || !(*st)["stores"].is_object())
    return std::nullopt;
  std::vector<std::string> out;
  for (auto& kv : (*st)["stores"].items())
    out.push_back(kv.key());
  return out;
}

/// What every case ends with: one cluster of the three nodes.
/// - each node sees the others up;
/// - one default store: on every node, cluster_status shows its group with
///   the three nodes as members and a leader;
/// - one catalog: store `shared` created through the last node is listed,
///   with `default`, by every node, and nothing else is;
/// - appends work through every node, and every node reads them all;
/// - only the founding seed ever logged that it founds.
void check_one_cluster(cluster& c, const std::string& shared,
                       const std::vector<std::string>& stores_before = {}) {
  REQUIRE_MESSAGE(c.wait_all_up(settle_timeout), "the nodes do not see each "
                                                 "other");
  std::vector<std::string> all{cluster::name(1), cluster::name(2),
                               cluster::name(3)};
  for (size_t i = 1; i <= c.size(); ++i) {
    json last;
    bool spans = wait_until(
      [&] {
        auto d = c.store_status(i, "default");
        if (!d)
          return false;
        last = *d;
        return d->value("leader", json{}).is_string()
               && member_names(*d) == all;
      },
      settle_timeout, 200ms);
    CHECK_MESSAGE(spans, cluster::name(i) << " sees the default store as "
                                          << brief(last));
  }
  create_store(c, c.size(), shared);
  auto want = stores_before;
  want.push_back("default");
  want.push_back(shared);
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  for (size_t i = 1; i <= c.size(); ++i) {
    std::optional<std::vector<std::string>> last;
    bool same = wait_until(
      [&] {
        last = store_list(c, i);
        return last && *last == want;
      },
      settle_timeout, 200ms);
    std::string seen;
    for (auto& s : last.value_or(std::vector<std::string>{}))
      seen += " " + s;
    CHECK_MESSAGE(same, cluster::name(i) << " lists the stores:" << seen);
  }
  for (size_t i = 1; i <= c.size(); ++i) {
    auto client = c.client(i);
    auto stream = shared + "-from-" + cluster::name(i);
    ok(client, "append_events", {{"store", "default"},
                                 {"stream", stream},
                                 {"expected_version", -1},
                                 {"events", make_events(2)}});
  }
  for (size_t i = 1; i <= c.size(); ++i) {
    auto client = c.client(i);
    for (size_t j = 1; j <= c.size(); ++j)
      CHECK_MESSAGE(stream_events(client, "default",
                                  shared + "-from-" + cluster::name(j))
                        .size()
                      == 2,
                    cluster::name(i) << " reads the appends of "
                                     << cluster::name(j));
  }
  auto f = founding_index(c);
  CHECK_MESSAGE(log_has(c, f, found_line),
                "the founding seed " << cluster::name(f) << " never founded");
  for (auto i : others(c, f))
    CHECK_MESSAGE(!log_has(c, i, found_line),
                  cluster::name(i) << " founded, but is not the founding seed");
}

void launch_all(cluster& c) {
  for (size_t i = 1; i <= c.size(); ++i)
    c.launch(i);
}

void wait_all_started(cluster& c) {
  for (size_t i = 1; i <= c.size(); ++i)
    c.wait_started(i);
}

} // namespace

TEST_CASE("identical seeds: three nodes started at once form one cluster") {
  cluster c{identical()};
  INFO(c.post_mortem());
  launch_all(c);
  wait_all_started(c);
  check_one_cluster(c, "shared");
}

TEST_CASE("identical seeds: one by one, the founding seed first, which waits "
          "for a second seed") {
  cluster c{identical()};
  INFO(c.post_mortem());
  auto f = founding_index(c);
  auto rest = others(c, f);
  c.launch(f);
  // Alone, it cannot know that no cluster exists yet: it waits and does not
  // serve clients.
  wait_log(c, f, wait_line);
  CHECK(!log_has(c, f, found_line));
  CHECK(!log_has(c, f, listening_line));
  c.launch(rest[0]);
  c.wait_started(f);
  c.wait_started(rest[0]);
  c.launch(rest[1]);
  c.wait_started(rest[1]);
  check_one_cluster(c, "shared");
}

TEST_CASE("identical seeds: one by one, the founding seed last; the others "
          "wait for it") {
  cluster c{identical()};
  INFO(c.post_mortem());
  auto f = founding_index(c);
  auto rest = others(c, f);
  c.launch(rest[0]);
  wait_log(c, rest[0], join_line);
  c.launch(rest[1]);
  wait_log(c, rest[1], join_line);
  // Without the founding seed there is no catalog to join: neither serves.
  CHECK(!log_has(c, rest[0], listening_line));
  CHECK(!log_has(c, rest[1], listening_line));
  c.launch(f);
  wait_all_started(c);
  check_one_cluster(c, "shared");
}

TEST_CASE("identical seeds: one node late joins the cluster the others "
          "formed, and every node restarted rejoins with its data") {
  cluster c{identical()};
  INFO(c.post_mortem());
  auto f = founding_index(c);
  auto rest = others(c, f);
  auto late = rest[1];
  c.launch(f);
  c.launch(rest[0]);
  c.wait_started(f);
  c.wait_started(rest[0]);
  {
    auto client = c.client(rest[0]);
    ok(client, "append_events", {{"store", "default"},
                                 {"stream", "early"},
                                 {"expected_version", -1},
                                 {"events", make_events(3)}});
  }
  c.launch(late);
  c.wait_started(late);
  check_one_cluster(c, "shared");
  {
    auto client = c.client(late);
    CHECK(stream_events(client, "default", "early").size() == 3);
  }
  // Restarts, with the same identical configuration: each node finds its
  // catalog on disk and rejoins; none founds again.
  for (size_t i = 1; i <= c.size(); ++i) {
    c.restart(i);
    REQUIRE_MESSAGE(c.wait_all_up(settle_timeout),
                    cluster::name(i) << " did not rejoin");
    auto log = c.node(i).log();
    auto last_start = log.rfind("=== cxesdb test harness: starting");
    REQUIRE(last_start != std::string::npos);
    CHECK_MESSAGE(log.find("bootstrap: join: this node's catalog holds data",
                           last_start)
                    != std::string::npos,
                  cluster::name(i) << " did not rejoin with its data");
  }
  check_one_cluster(c, "again", {"shared"});
  auto client = c.client(late);
  CHECK(stream_events(client, "default", "early").size() == 3);
}

TEST_CASE("identical seeds: nodes killed and restarted during bootstrap end "
          "in one cluster") {
  cluster c{identical()};
  INFO(c.post_mortem());
  auto f = founding_index(c);
  auto rest = others(c, f);
  launch_all(c);
  // The founding seed dies right after deciding to found (its catalog may
  // or may not hold its own node_joined yet), and a joining node right
  // after deciding to join.
  wait_log(c, f, found_line);
  c.kill(f);
  wait_log(c, rest[0], join_line);
  c.kill(rest[0]);
  c.launch(f);
  c.launch(rest[0]);
  wait_all_started(c);
  check_one_cluster(c, "shared");
}
