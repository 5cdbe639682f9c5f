// Stream lifecycle on three real nodes (protocol.md section 9): deletions,
// truncation and retention go through the store's log, so every replica
// removes exactly the same events, also one that was down while they were
// decided and caught up after its restart.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <stdexcept>
#include <thread>

#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;

namespace {

/// The `stream_meta` rows of the replica database at `path`, as
/// "stream:first:state" lines in stream order: what each replica hides.
std::vector<std::string> read_meta_file(const std::string& path) {
  sqlite3* db = nullptr;
  auto uri = "file:" + path + "?mode=ro";
  auto rc = sqlite3_open_v2(uri.c_str(), &db,
                            SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  std::vector<std::string> rows;
  sqlite3_stmt* stmt = nullptr;
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_prepare_v2(db,
                            "SELECT stream_id, first, state FROM stream_meta "
                            "ORDER BY stream_id",
                            -1, &stmt, nullptr);
  }
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw std::runtime_error("read_meta " + path + ": " + msg);
  }
  while (sqlite3_step(stmt) == SQLITE_ROW)
    rows.push_back(
      std::string{reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))}
      + ":" + std::to_string(sqlite3_column_int64(stmt, 1)) + ":"
      + std::to_string(sqlite3_column_int64(stmt, 2)));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

/// Reads one replica's `stream_meta` while its node is frozen (a consistent
/// moment); empty when it cannot be read yet.
std::vector<std::string> replica_meta(cluster& c, size_t i,
                                      const std::string& store) {
  if (!c.has_replica(i, store))
    return {};
  auto& n = c.node(i);
  bool freeze = n.running() && !n.suspended();
  if (freeze)
    n.suspend();
  std::vector<std::string> rows;
  try {
    rows = read_meta_file(c.replica_path(i, store));
  } catch (const std::runtime_error&) {
    // the store's files are being created or replaced: try again later
  }
  if (freeze)
    n.resume();
  return rows;
}

json create_params(const std::string& store) {
  return {{"store", store},
          {"config", {{"replication_factor", 3}, {"timeout_ms", 2000}}}};
}

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

} // namespace

TEST_CASE("deletions are identical on every replica, also on one restarted "
          "across them") {
  cluster c;
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(60s), "no cluster formed");
  result_of(call_settled(c, 1, "create_store", create_params("life")));
  std::optional<size_t> leader;
  REQUIRE_MESSAGE(wait_until(
                    [&] {
                      leader = c.leader_of("life");
                      return leader.has_value();
                    },
                    60s, 100ms),
                  "no leader for the store in cluster_status");
  auto w = c.client(2);
  auto append = [&](const std::string& stream, size_t n) {
    ok(w, "append_events", {{"store", "life"},
                            {"stream", stream},
                            {"events", make_events(n)}});
  };
  append("a", 3);
  append("b", 3);
  append("c", 4);
  append("d", 2);
  ok(w, "record_snapshot", {{"store", "life"},
                            {"source_uuid", "src"},
                            {"stream_uuid", "b"},
                            {"version", 2},
                            {"data", 1}});
  REQUIRE(c.wait_replicas_agree("life", {1, 2, 3}, 12, 30s));

  // A follower is down while the removals are decided.
  size_t down = *leader == 3 ? 2 : 3;
  size_t via = *leader == 1 ? (down == 2 ? 3 : 2) : 1;
  c.shutdown(down);
  auto s = [](json p) {
    p["store"] = "life";
    return p;
  };
  auto del = result_of(call_settled(
    c, via, "delete_stream", s({{"stream", "a"}, {"expected_version", 2}})));
  CHECK(del == json{{"deleted", true}, {"version", 2}});
  result_of(call_settled(c, via, "delete_stream",
                         s({{"stream", "b"}, {"hard", true}})));
  result_of(call_settled(c, via, "truncate_stream",
                         s({{"stream", "c"}, {"before", 2}})));
  result_of(call_settled(c, via, "set_stream_metadata",
                         s({{"stream", "d"}, {"max_count", 1}})));
  c.restart(down);
  REQUIRE_MESSAGE(c.wait_all_up(60s), "the restarted node does not rejoin");

  const std::vector<std::string> expected{"a:3:1", "b:3:2", "c:2:0", "d:1:0"};
  bool agree = wait_until(
    [&] {
      for (size_t i = 1; i <= 3; ++i)
        if (replica_meta(c, i, "life") != expected)
          return false;
      return true;
    },
    30s, 200ms);
  for (size_t i = 1; i <= 3; ++i)
    CHECK_MESSAGE(replica_meta(c, i, "life") == expected,
                  cluster::name(i) << " disagrees");
  REQUIRE(agree);
  CHECK(c.wait_replicas_agree("life", {1, 2, 3}, 12, 30s));

  // Every node reads the same: only c's last two events and d's last one.
  json first_all;
  for (size_t i = 1; i <= 3; ++i) {
    auto r = c.client(i);
    auto events = read_all_events(r, "life");
    std::vector<std::pair<std::string, int64_t>> seen;
    for (auto& e : events)
      seen.emplace_back(e["stream_id"].get<std::string>(),
                        e["event_number"].get<int64_t>());
    CHECK(seen
          == std::vector<std::pair<std::string, int64_t>>{
            {"c", 2}, {"c", 3}, {"d", 1}});
    CHECK(ok(r, "get_version", s({{"stream", "a"}}))["version"] == -1);
    err(r, "get_events", s({{"stream", "b"}}), "stream_deleted");
    expect_not_found(r, "read_snapshot",
                     s({{"source_uuid", "src"}, {"stream_uuid", "b"}}),
                     "snapshot");
    // a retry through any node answers the same
    CHECK(result_of(call_settled(c, i, "delete_stream",
                                 s({{"stream", "a"}, {"expected_version", 2}})))
          == del);
  }
}
