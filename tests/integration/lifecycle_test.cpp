// Integration tests of stream lifecycle and retention (protocol.md section 9)
// against a real cxesdb-node on 127.0.0.1: soft and hard deletes, truncation,
// stream metadata, their idempotent retries and bad input, across a restart
// and with subscriptions running.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <memory>
#include <vector>

#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;

namespace {

/// One node shared by the cases; each case works in its own store.
node_process& the_node() {
  static std::unique_ptr<node_process> node;
  if (!node) {
    node = std::make_unique<node_process>();
  } else if (!node->running()) {
    FAIL_CHECK("the node died; log tail:\n" << node->log_tail(1500));
    node->start();
  }
  return *node;
}

json_client connect(node_process& node) {
  json_client c;
  auto e = c.connect("127.0.0.1", node.port());
  REQUIRE_MESSAGE(!e, "connect: " << e.value_or(""));
  return c;
}

void create_store(json_client& c, const std::string& store) {
  auto r = ok(c, "create_store", {{"store", store}});
  CHECK(r.value("status", "") == "running");
}

json append(json_client& c, const std::string& store, const std::string& stream,
            size_t n, json expected = "any") {
  return ok(c, "append_events", {{"store", store},
                                 {"stream", stream},
                                 {"expected_version", expected},
                                 {"events", make_events(n)}});
}

std::vector<int64_t> numbers(json_client& c, const std::string& store,
                             const std::string& stream, json extra = {}) {
  json params{{"store", store}, {"stream", stream}};
  if (extra.is_object())
    params.update(extra);
  auto r = ok(c, "get_events", params);
  std::vector<int64_t> out;
  for (auto& e : r["events"])
    out.push_back(e["event_number"].get<int64_t>());
  return out;
}

std::vector<std::string> stream_ids(json_client& c, const std::string& store) {
  auto r = ok(c, "get_streams", {{"store", store}});
  return r["streams"].get<std::vector<std::string>>();
}

/// Positions and streams of every event read_all returns.
std::vector<std::pair<int64_t, std::string>> all(json_client& c,
                                                 const std::string& store) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (auto& e : read_all_events(c, store))
    out.emplace_back(e["position"].get<int64_t>(),
                     e["stream_id"].get<std::string>());
  return out;
}

int64_t version(json_client& c, const std::string& store,
                const std::string& stream) {
  return ok(c, "get_version", {{"store", store}, {"stream", stream}})["version"]
    .get<int64_t>();
}

using v = std::vector<int64_t>;
using positions = std::vector<std::pair<int64_t, std::string>>;

} // namespace

TEST_CASE("a soft delete hides the stream; an append recreates it after the "
          "deleted numbers") {
  auto c = connect(the_node());
  create_store(c, "soft");
  append(c, "soft", "a", 3);
  append(c, "soft", "b", 1);
  auto r = ok(c, "delete_stream", {{"store", "soft"},
                                   {"stream", "a"},
                                   {"expected_version", 2}});
  CHECK(r == json{{"deleted", true}, {"version", 2}});
  CHECK(numbers(c, "soft", "a").empty());
  CHECK(numbers(c, "soft", "a", {{"direction", "backward"}}).empty());
  CHECK(version(c, "soft", "a") == -1);
  CHECK(stream_ids(c, "soft") == std::vector<std::string>{"b"});
  CHECK(all(c, "soft") == positions{{3, "b"}});
  // a retry answers the same
  CHECK(ok(c, "delete_stream", {{"store", "soft"},
                                {"stream", "a"},
                                {"expected_version", 2}})
        == r);
  CHECK(ok(c, "delete_stream", {{"store", "soft"}, {"stream", "a"}}) == r);
  // a wrong expected version is refused with the version reads show
  append(c, "soft", "b", 1);
  auto e = err(c, "delete_stream",
               {{"store", "soft"}, {"stream", "b"}, {"expected_version", 0}},
               "wrong_expected_version");
  CHECK(e["current_version"] == 1);
  // recreated: numbered after the deleted events
  r = append(c, "soft", "a", 2, "no_stream");
  CHECK(r["version"] == 4);
  CHECK(numbers(c, "soft", "a") == v{3, 4});
  CHECK(version(c, "soft", "a") == 4);
  CHECK(stream_ids(c, "soft") == std::vector<std::string>{"a", "b"});
  CHECK(all(c, "soft")
        == positions{{3, "b"}, {4, "b"}, {5, "a"}, {6, "a"}});
}

TEST_CASE("a hard delete is for good: stream_deleted on every access") {
  auto c = connect(the_node());
  create_store(c, "hard");
  append(c, "hard", "h", 2);
  append(c, "hard", "k", 1);
  ok(c, "record_snapshot", {{"store", "hard"},
                            {"source_uuid", "src"},
                            {"stream_uuid", "h"},
                            {"version", 1},
                            {"data", {{"x", 1}}}});
  auto r = ok(c, "delete_stream",
              {{"store", "hard"}, {"stream", "h"}, {"hard", true}});
  CHECK(r == json{{"deleted", true}, {"version", 1}});
  CHECK(ok(c, "delete_stream",
           {{"store", "hard"}, {"stream", "h"}, {"hard", true}})
        == r);
  auto gone = [&](const std::string& method, json params) {
    params["store"] = "hard";
    params["stream"] = "h";
    auto data = err(c, method, params, "stream_deleted");
    CHECK(data["stream"] == "h");
  };
  gone("get_events", json::object());
  gone("get_version", json::object());
  gone("get_stream_metadata", json::object());
  gone("append_events",
       {{"expected_version", "no_stream"}, {"events", make_events(1)}});
  gone("truncate_stream", {{"before", 1}});
  gone("set_stream_metadata", {{"max_count", 1}});
  gone("delete_stream", json::object());
  CHECK(stream_ids(c, "hard") == std::vector<std::string>{"k"});
  CHECK(all(c, "hard") == positions{{2, "k"}});
  expect_not_found(c, "read_snapshot",
                   {{"store", "hard"}, {"source_uuid", "src"},
                    {"stream_uuid", "h"}},
                   "snapshot");
  expect_alive(c);
}

TEST_CASE("truncate_stream hides the events below `before`") {
  auto c = connect(the_node());
  create_store(c, "trunc");
  append(c, "trunc", "a", 5);
  auto r = ok(c, "truncate_stream",
              {{"store", "trunc"}, {"stream", "a"}, {"before", 3}});
  CHECK(r == json{{"truncated", true}, {"first", 3}});
  CHECK(numbers(c, "trunc", "a") == v{3, 4});
  CHECK(numbers(c, "trunc", "a", {{"start", 0}}) == v{3, 4});
  CHECK(numbers(c, "trunc", "a", {{"direction", "backward"}}) == v{4, 3});
  CHECK(version(c, "trunc", "a") == 4);
  CHECK(all(c, "trunc") == positions{{3, "a"}, {4, "a"}});
  // never back
  CHECK(ok(c, "truncate_stream",
           {{"store", "trunc"}, {"stream", "a"}, {"before", 1}})["first"]
        == 3);
  expect_invalid(c, "truncate_stream",
                 {{"store", "trunc"}, {"stream", "a"}, {"before", -1}},
                 "before");
  expect_invalid(c, "truncate_stream", {{"store", "trunc"}, {"stream", "a"}},
                 "before");
  expect_alive(c);
}

TEST_CASE("stream metadata: max_count, custom, and bad input") {
  auto c = connect(the_node());
  create_store(c, "meta");
  append(c, "meta", "a", 5);
  CHECK(ok(c, "get_stream_metadata", {{"store", "meta"}, {"stream", "a"}})
        == json{{"metadata", json::object()}});
  json md{{"max_count", 2}, {"max_age_s", 86400}, {"custom", {{"owner", "x"}}}};
  json params = md;
  params["store"] = "meta";
  params["stream"] = "a";
  CHECK(ok(c, "set_stream_metadata", params) == json{{"metadata", md}});
  CHECK(ok(c, "get_stream_metadata", {{"store", "meta"}, {"stream", "a"}})
        == json{{"metadata", md}});
  CHECK(numbers(c, "meta", "a") == v{3, 4});
  append(c, "meta", "a", 1);
  CHECK(numbers(c, "meta", "a") == v{4, 5});
  CHECK(all(c, "meta") == positions{{4, "a"}, {5, "a"}});
  json base{{"store", "meta"}, {"stream", "a"}};
  auto with = [&](json extra) {
    auto p = base;
    p.update(extra);
    return p;
  };
  expect_invalid(c, "set_stream_metadata", with({{"max_count", 0}}),
                 "max_count");
  expect_invalid(c, "set_stream_metadata", with({{"max_age_s", -5}}),
                 "max_age_s");
  expect_invalid(c, "set_stream_metadata", with({{"custom", "text"}}),
                 "custom");
  expect_invalid(c, "set_stream_metadata", with({{"maxAge", 3}}), "maxAge");
  expect_invalid(c, "delete_stream", with({{"hard", 1}}), "hard");
  expect_invalid(c, "delete_stream", with({{"expected_version", -2}}),
                 "expected_version");
  expect_invalid(c, "get_stream_metadata", with({{"x", 1}}), "x");
  expect_not_found(c, "delete_stream", {{"store", "nope"}, {"stream", "a"}},
                   "store");
  expect_alive(c);
}

TEST_CASE("subscriptions skip deleted and truncated events") {
  auto c = connect(the_node());
  create_store(c, "subs");
  append(c, "subs", "gone", 3);
  append(c, "subs", "kept", 2);
  append(c, "subs", "cut", 3);
  ok(c, "delete_stream", {{"store", "subs"}, {"stream", "gone"}});
  ok(c, "truncate_stream",
     {{"store", "subs"}, {"stream", "cut"}, {"before", 2}});
  auto sub = connect(the_node());
  ok(sub, "save_subscription", {{"store", "subs"},
                                         {"type", "by_stream"},
                                         {"selector", "$all"},
                                         {"name", "billing"},
                                         {"start_from", "origin"}});
  std::vector<int64_t> seen;
  while (seen.size() < 3) {
    auto m = read_json(sub);
    if (m.value("method", "") != "event")
      continue;
    seen.push_back(m["params"]["event"]["position"].get<int64_t>());
  }
  CHECK(seen == v{3, 4, 7});
  // a stream subscription to a deleted stream delivers nothing of it; new
  // events after the recreation arrive
  auto one = connect(the_node());
  ok(one, "save_subscription", {{"store", "subs"},
                                {"type", "by_stream"},
                                {"selector", "gone"},
                                {"start_from", "origin"}});
  append(c, "subs", "gone", 1, "no_stream");
  auto m = read_json(one);
  while (m.value("method", "") != "event")
    m = read_json(one);
  CHECK(m["params"]["event"]["event_number"] == 3);
  CHECK(m["params"]["event"]["position"] == 8);
}

TEST_CASE("deletions survive a restart") {
  node_process node;
  auto c = connect(node);
  create_store(c, "kept");
  append(c, "kept", "soft", 2);
  append(c, "kept", "hard", 2);
  append(c, "kept", "cut", 4);
  append(c, "kept", "count", 4);
  ok(c, "delete_stream", {{"store", "kept"}, {"stream", "soft"}});
  ok(c, "delete_stream",
     {{"store", "kept"}, {"stream", "hard"}, {"hard", true}});
  ok(c, "truncate_stream",
     {{"store", "kept"}, {"stream", "cut"}, {"before", 3}});
  ok(c, "set_stream_metadata",
     {{"store", "kept"}, {"stream", "count"}, {"max_count", 1}});
  auto before = all(c, "kept");
  c.close();
  node.restart();
  c = connect(node);
  CHECK(all(c, "kept") == before);
  CHECK(before == positions{{7, "cut"}, {11, "count"}});
  CHECK(version(c, "kept", "soft") == -1);
  err(c, "get_version", {{"store", "kept"}, {"stream", "hard"}},
      "stream_deleted");
  CHECK(numbers(c, "kept", "cut") == v{3});
  CHECK(ok(c, "get_stream_metadata", {{"store", "kept"}, {"stream", "count"}})
        == json{{"metadata", {{"max_count", 1}}}});
  CHECK(stream_ids(c, "kept") == std::vector<std::string>{"count", "cut"});
  CHECK(ok(c, "delete_stream", {{"store", "kept"}, {"stream", "soft"}})
        == json{{"deleted", true}, {"version", 1}});
}

namespace {

/// The bytes of a store's database at `path` with its write-ahead log, if
/// one is left.
int64_t file_bytes(const std::string& path) {
  struct stat st {};
  REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, "no file " << path);
  auto bytes = static_cast<int64_t>(st.st_size);
  if (::stat((path + "-wal").c_str(), &st) == 0)
    bytes += static_cast<int64_t>(st.st_size);
  return bytes;
}

/// Reads event notifications on `c` until the one at `position`.
void read_until(json_client& c, int64_t position) {
  for (;;) {
    auto m = read_json(c);
    if (m.value("method", "") == "event"
        && m["params"]["event"]["position"] == position)
      return;
  }
}

} // namespace

TEST_CASE("a scavenge after deleting 90 % of a store's events at least "
          "halves its disk; a persistent checkpoint stays valid") {
  node_process node;
  auto c = connect(node);
  create_store(c, "big");
  // 20 streams of 250 events of about 1.5 kB each
  const std::string blob(1500, 'x');
  constexpr int streams = 20;
  constexpr int per_stream = 250;
  for (int s = 0; s < streams; ++s)
    for (int b = 0; b < per_stream / 50; ++b) {
      auto events = json::array();
      for (int i = 0; i < 50; ++i)
        events.push_back(make_event("Big", {{"b", blob}}));
      ok(c, "append_events", {{"store", "big"},
                              {"stream", "s" + std::to_string(s)},
                              {"events", events}});
    }
  // a persistent subscription acknowledged into what will be deleted
  {
    auto sub = connect(node);
    auto r = ok(sub, "save_subscription", {{"store", "big"},
                                           {"type", "by_stream"},
                                           {"selector", "$all"},
                                           {"name", "keeper"},
                                           {"start_from", "origin"}});
    read_until(sub, 99);
    ok(sub, "ack_event",
       {{"store", "big"}, {"subscription", r["subscription"]}, {"position", 99}});
  }
  c.close();
  auto db = node.data_dir() + "/big/store.db";
  REQUIRE(stop_node(node) == 0);
  auto full = file_bytes(db);
  node.start();
  c = connect(node);
  // 90 %: every stream but the last two, for good
  for (int s = 0; s < streams - 2; ++s)
    ok(c, "delete_stream", {{"store", "big"},
                            {"stream", "s" + std::to_string(s)},
                            {"hard", true}});
  auto r = ok(c, "scavenge_store", {{"store", "big"}});
  CHECK(r["removed_events"] == (streams - 2) * per_stream);
  CHECK(r["reclaimed_bytes"].get<int64_t>() > 0);
  // again: nothing left
  r = ok(c, "scavenge_store", {{"store", "big"}});
  CHECK(r["removed_events"] == 0);
  c.close();
  REQUIRE(stop_node(node) == 0);
  auto scavenged = file_bytes(db);
  MESSAGE("store.db: " << full << " bytes before, " << scavenged
                       << " after the scavenge");
  CHECK(scavenged * 2 <= full);
  node.start();
  c = connect(node);
  auto events = read_all_events(c, "big");
  REQUIRE(events.size() == 2 * per_stream);
  CHECK(events[0]["position"] == (streams - 2) * per_stream);
  // the persistent subscription resumes after its checkpoint (position 99,
  // scavenged away) with the first event still there
  auto sub = connect(node);
  ok(sub, "save_subscription", {{"store", "big"},
                                {"type", "by_stream"},
                                {"selector", "$all"},
                                {"name", "keeper"}});
  auto m = read_json(sub);
  while (m.value("method", "") != "event")
    m = read_json(sub);
  CHECK(m["params"]["event"]["position"] == (streams - 2) * per_stream);
}

TEST_CASE("scavenge_store takes only a store") {
  auto c = connect(the_node());
  expect_invalid(c, "scavenge_store", {{"stream", "a"}}, "stream");
  expect_not_found(c, "scavenge_store", {{"store", "nope"}}, "store");
  auto r = ok(c, "scavenge_store", json::object());
  CHECK(r["removed_events"] == 0);
  CHECK(r["reclaimed_bytes"].is_number_integer());
}

TEST_CASE("the background scavenger scavenges every --scavenge-interval-s") {
  node_options opts;
  opts.extra_args = {"--scavenge-interval-s", "1"};
  node_process node{opts};
  auto c = connect(node);
  create_store(c, "bg");
  append(c, "bg", "a", 10);
  append(c, "bg", "b", 1);
  ok(c, "delete_stream", {{"store", "bg"}, {"stream", "a"}, {"hard", true}});
  auto db = node.data_dir() + "/bg/store.db";
  size_t rows = 0;
  bool scavenged = wait_until(
    [&] {
      rows = read_replica_file(db).size();
      return rows == 1;
    },
    std::chrono::seconds{60}, std::chrono::milliseconds{200});
  CHECK_MESSAGE(scavenged, rows << " events still on the disk");
  CHECK(all(c, "bg") == positions{{10, "b"}});
}

TEST_CASE("a store's retention applies to streams without limits of their "
          "own") {
  auto c = connect(the_node());
  auto r = ok(c, "create_store",
              {{"store", "ret"}, {"config", {{"retention", {{"max_count", 2}}}}}});
  CHECK(r["config"]["retention"] == json{{"max_count", 2}});
  CHECK(ok(c, "get_store_config", {{"store", "ret"}})["config"]["retention"]
        == json{{"max_count", 2}});
  append(c, "ret", "a", 5);
  CHECK(numbers(c, "ret", "a") == v{3, 4});
  ok(c, "set_stream_metadata",
     {{"store", "ret"}, {"stream", "b"}, {"max_count", 3}});
  append(c, "ret", "b", 5);
  CHECK(numbers(c, "ret", "b") == v{2, 3, 4});
  auto bad = [&](json retention, const std::string& field) {
    expect_invalid(c, "create_store",
                   {{"store", "ret_bad"}, {"config", {{"retention", retention}}}},
                   field);
  };
  bad({{"max_count", 0}}, "config.retention.max_count");
  bad({{"max_age_s", -1}}, "config.retention.max_age_s");
  bad({{"keep", 1}}, "config.retention.keep");
  bad(5, "config.retention");
  expect_not_found(c, "get_store_config", {{"store", "ret_bad"}}, "store");
  create_store(c, "noret");
  CHECK_FALSE(ok(c, "get_store_config", {{"store", "noret"}})["config"]
                .contains("retention"));
}
