// Integration tests of stream lifecycle and retention (protocol.md section 9)
// against a real cxesdb-node on 127.0.0.1: soft and hard deletes, truncation,
// stream metadata, their idempotent retries and bad input, across a restart
// and with subscriptions running.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <memory>
#include <vector>

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
