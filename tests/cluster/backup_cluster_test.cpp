// Store backup and restore on three real nodes (protocol.md section 10): a
// restored store is replicated like any other, placed by the ring, and the
// backup's data reaches every one of its replicas (as the leader's snapshot
// image), also when the ring does not place it on the node that restored it.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <thread>

#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;

namespace {

/// Calls through node `via` until the answer is not `unavailable` (the
/// cluster may be electing); returns the response.
json call_settled(cluster& c, size_t via, const std::string& method,
                  const json& params) {
  json last;
  for (int attempt = 0; attempt < 300; ++attempt) {
    auto client = c.client(via);
    last = rpc(client, method, params);
    if (!last.contains("error")
        || last["error"]["data"].value("reason", "") != "unavailable")
      return last;
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

/// The rows of node `i`'s replica of `store`, read while it is frozen.
std::vector<replica_row> rows_of(cluster& c, size_t i,
                                 const std::string& store) {
  c.stop(i);
  std::vector<replica_row> rows;
  try {
    rows = c.read_replica(i, store);
  } catch (const std::runtime_error&) {
  }
  c.cont(i);
  return rows;
}

} // namespace

TEST_CASE("a store restored in a cluster has the backup's data on every "
          "replica") {
  cluster c;
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(60s), "no cluster formed");
  result_of(call_settled(
    c, 1, "create_store",
    {{"store", "src"}, {"config", {{"replication_factor", 3}}}}));
  auto w = c.client(2);
  for (auto stream : {"a", "b", "c", "a"})
    ok(w, "append_events",
       {{"store", "src"}, {"stream", stream}, {"events", make_events(5)}});
  REQUIRE(c.wait_replicas_agree("src", {1, 2, 3}, 20, 60s));
  auto expected = rows_of(c, 1, "src");
  REQUIRE(expected.size() == 20);

  // node 3 holds a replica (three of three): it backs up and restores
  auto b = result_of(call_settled(c, 3, "backup_store",
                                  {{"store", "src"}, {"name", "src_1"}}));
  CHECK(b["last_position"] == 19);
  auto r = result_of(call_settled(c, 3, "restore_store",
                                  {{"store", "dst"}, {"backup", "src_1"}}));
  CHECK(r["status"] == "running");
  CHECK(r["config"]["replication_factor"] == 3);
  // the two other replicas join the new store's group and receive the copy
  REQUIRE_MESSAGE(c.wait_replicas_agree("dst", {1, 2, 3}, 20, 60s),
                  "the restored store's replicas do not agree");
  for (size_t i = 1; i <= 3; ++i)
    CHECK_MESSAGE(rows_of(c, i, "dst") == expected, cluster::name(i));
  REQUIRE(wait_until([&] { return c.members_of("dst").size() == 3; }, 60s,
                     200ms));

  // it is a store like any other: writes through any node reach every
  // replica, its positions going on after the backup's
  auto w1 = c.client(1);
  auto a = result_of(call_settled(
    c, 1, "append_events",
    {{"store", "dst"}, {"stream", "new"}, {"events", make_events(2)}}));
  CHECK(a["position"] == 21);
  CHECK(c.wait_replicas_agree("dst", {1, 2, 3}, 22, 60s));
  // restoring it again anywhere is already_exists
  err(w1, "restore_store", {{"store", "dst"}, {"backup", "src_1"}},
      "already_exists");
}

TEST_CASE("a restored store moves to the nodes the ring places it on") {
  cluster c;
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(60s), "no cluster formed");
  result_of(call_settled(
    c, 1, "create_store",
    {{"store", "one"}, {"config", {{"replication_factor", 1}}}}));
  std::vector<size_t> where;
  REQUIRE(wait_until(
    [&] {
      where = c.members_of("one");
      return where.size() == 1;
    },
    60s, 200ms));
  size_t holder = where[0];
  auto w = c.client(holder);
  ok(w, "append_events",
     {{"store", "one"}, {"stream", "s"}, {"events", make_events(7)}});
  ok(w, "backup_store", {{"store", "one"}, {"name", "one_1"}});
  // a node without a replica of the store cannot back it up
  auto other = holder == 1 ? 2 : 1;
  auto o = c.client(other);
  err(o, "backup_store", {{"store", "one"}, {"name", "one_2"}}, "unavailable");
  // several restores from the holder: the ring places some elsewhere
  for (auto id : {"copy_a", "copy_b", "copy_c", "copy_d"})
    result_of(call_settled(c, holder, "restore_store",
                           {{"store", id}, {"backup", "one_1"}}));
  for (auto id : {"copy_a", "copy_b", "copy_c", "copy_d"}) {
    INFO("store " << id);
    std::vector<size_t> members;
    // settles on one replica, wherever the ring puts it; the holder's copy
    // goes when the store is placed elsewhere
    REQUIRE(wait_until(
      [&] {
        members = c.members_of(id);
        if (members.size() != 1)
          return false;
        for (size_t i = 1; i <= 3; ++i)
          if (i != members[0] && c.has_replica(i, id))
            return false;
        return true;
      },
      60s, 200ms));
    CHECK(rows_of(c, members[0], id).size() == 7);
    auto r = c.client(members[0]);
    CHECK(read_all_events(r, id).size() == 7);
  }
}
