// Tests of the C++ client library (gateway/client.hpp) against real nodes
// (tests/client/fixture.hpp): for every store, stream and snapshot
// operation, the C++ client's results and errors are those the JSON client
// gets for the same call: the same result fields and values, the same
// reason, message and error data. Also what only the C++ client has:
// connection failures and the example program of docs/client-example.cpp.
// Subscribers are in subscriber_test.cpp.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/client/fixture.hpp"
#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;
using namespace cxesdb::gateway;
using cxesdb::gateway::json_client;

namespace {

/// Checks that `err` is the error the JSON-RPC response `resp` carries: the
/// category "cxesdb", the same reason, message and data. Returns the data.
json check_same_error(const caf::error& err, const json& resp,
                      const std::string& what) {
  INFO("call: " << what);
  INFO("JSON-RPC response: " << brief(resp));
  INFO("C++ error: " << client_system().render(err));
  REQUIRE(resp.contains("error"));
  auto& e = resp["error"];
  CHECK(err.category() == caf::atom("cxesdb"));
  CHECK(to_string(reason_of(err)) == e["data"].value("reason", "?"));
  CHECK(cxesdb::stores::to_code(reason_of(err)) == e.value("code", 0));
  CHECK(message_of(err) == e.value("message", "?"));
  CHECK(data_of(err) == e["data"]);
  return e["data"];
}

/// `j` without what differs from node to node by design: a store's
/// `data_dir` is where the answering node keeps its replica.
json without_node_local(json j) {
  if (j.is_object()) {
    j.erase("data_dir");
    for (auto& kv : j.items())
      kv.value() = without_node_local(kv.value());
  } else if (j.is_array()) {
    for (auto& x : j)
      x = without_node_local(x);
  }
  return j;
}

/// Checks that the typed value, as JSON, is the JSON-RPC result, or its
/// field `key` for results that are one field (`{"version": 3}`), up to
/// node-local fields.
template <class T>
void check_same_result(const caf::expected<T>& x, const json& resp,
                       const std::string& what, const char* key) {
  INFO("call: " << what);
  INFO("JSON-RPC response: " << brief(resp));
  if (!x)
    FAIL_CHECK("C++ error: " << client_system().render(x.error()));
  REQUIRE(resp.contains("result"));
  if (!x)
    return;
  if (key == nullptr) {
    CHECK(without_node_local(json(*x)) == without_node_local(resp["result"]));
  } else {
    REQUIRE(resp["result"].contains(key));
    CHECK(without_node_local(json(*x))
          == without_node_local(resp["result"][key]));
  }
}

/// Checks that the C++ client's result or error matches the JSON client's
/// response.
template <class T>
void check_same(const caf::expected<T>& x, const json& resp,
                const std::string& what, const char* key = nullptr) {
  if (resp.contains("error")) {
    INFO("call: " << what);
    REQUIRE_MESSAGE(!x, "the C++ client succeeded, JSON-RPC failed: "
                          << brief(resp));
    check_same_error(x.error(), resp, what);
    return;
  }
  check_same_result(x, resp, what, key);
}

/// `j` with `key` set to `value`.
json with(json j, const std::string& key, json value) {
  j[key] = std::move(value);
  return j;
}

/// The same for calls whose result is a flag (`{"removed":true}` ...).
void check_same_void(const caf::expected<void>& x, const json& resp,
                     const std::string& what) {
  INFO("call: " << what);
  INFO("JSON-RPC response: " << brief(resp));
  if (resp.contains("error")) {
    REQUIRE(!x);
    check_same_error(x.error(), resp, what);
    return;
  }
  if (!x)
    FAIL_CHECK("C++ error: " << client_system().render(x.error()));
}

/// The generic path: `client::call` and the JSON client with the same
/// method and params answer the same. Returns the JSON-RPC response.
json same_call(const client& api, json_client& j, const std::string& method,
               json params = json::object()) {
  auto resp = rpc(j, method, params);
  auto x = api.call(method, params);
  check_same(x, resp, method + " " + brief(params));
  return resp;
}

/// The error data of a JSON-RPC response whose reason must be `reason`.
json error_data(const json& resp, const std::string& reason) {
  return check_error(resp, reason);
}

/// A store config result without what differs between two stores.
json without_identity(json r) {
  if (r.contains("store"))
    r["store"] = "<store>";
  auto& cfg = r.contains("config") ? r["config"] : r;
  cfg["data_dir"] = "<dir>";
  cfg["created_at"] = "<time>";
  return r;
}

std::vector<event_data> two_events() {
  event_data a{"OrderPlaced", {{"order", 42}, {"total", 99.5}},
               {{"correlation_id", "c-1"}}, uuid4(), ""};
  event_data b{"OrderPaid", {{"order", 42}}, nullptr, uuid4(), ""};
  return {a, b};
}

json to_params(const std::string& store, const std::string& stream,
               json expected, const std::vector<event_data>& events) {
  return {{"store", store},
          {"stream", stream},
          {"expected_version", expected},
          {"events", events}};
}

} // namespace

TEST_CASE("stores: create, status, config, list and remove") {
  auto api = api_client_at(0);
  auto j = json_client_at(0);
  store_settings settings;
  settings.timeout_ms = 5000;
  settings.description = "client test";
  settings.tags = std::vector<std::string>{"a", "b"};
  json config = settings;

  // create_store: the same result but for the store's identity.
  auto created = api.create_store("cs_api", settings);
  auto created_j = rpc(j, "create_store",
                       {{"store", "cs_json"}, {"config", config}});
  REQUIRE_MESSAGE(created, client_system().render(created.error()));
  auto r = result_of(created_j);
  CHECK(created->store == "cs_api");
  CHECK(created->status == "running");
  CHECK(created->config.description == "client test");
  CHECK(created->config.data_dir.size() > 7);
  CHECK(created->config.data_dir.substr(created->config.data_dir.size() - 7)
        == "/cs_api");
  CHECK(without_identity(json(*created)) == without_identity(r));

  // create_store errors.
  check_same(api.create_store("cs_api"),
             rpc(j, "create_store", {{"store", "cs_api"}}), "create again");
  check_same(api.create_store("cs_json"),
             rpc(j, "create_store", {{"store", "cs_json"}}), "create again");
  auto bad = rpc(j, "create_store", {{"store", "../etc"}});
  check_same(api.create_store("../etc"), bad, "create ../etc");
  CHECK(error_data(bad, "invalid_params")["field"] == "store");
  store_settings bad_timeout;
  bad_timeout.timeout_ms = -5;
  check_same(api.create_store("cs_bad", bad_timeout),
             rpc(j, "create_store",
                 {{"store", "cs_bad"}, {"config", {{"timeout_ms", -5}}}}),
             "create with timeout_ms -5");
  same_call(api, j, "create_store",
            {{"store", "x1"}, {"config", {{"colour", "red"}}}});

  // Reads of stores.
  for (auto store : {"cs_api", "cs_json", "default"}) {
    check_same(api.get_store_status(store),
               rpc(j, "get_store_status", {{"store", store}}), "status",
               "status");
    check_same(api.get_store_config(store),
               rpc(j, "get_store_config", {{"store", store}}), "config",
               "config");
  }
  check_same(api.get_store_status(""), rpc(j, "get_store_status"),
             "status of the default store", "status");
  auto missing = rpc(j, "get_store_status", {{"store", "nosuch"}});
  check_same(api.get_store_status("nosuch"), missing, "status nosuch");
  CHECK(error_data(missing, "not_found")["what"] == "store");
  check_same(api.get_store_config("nosuch"),
             rpc(j, "get_store_config", {{"store", "nosuch"}}),
             "config nosuch");
  {
    auto listed = api.list_stores();
    auto listed_j = result_of(rpc(j, "list_stores"));
    REQUIRE(listed);
    json as_json = json::object();
    for (auto& kv : *listed) {
      CHECK(kv.second.store == kv.first);
      as_json[kv.first] = {{"status", kv.second.status},
                           {"config", kv.second.config}};
    }
    CHECK(without_node_local(as_json) == without_node_local(listed_j["stores"]));
    CHECK(listed->count("cs_api") == 1);
  }

  // remove_store.
  auto forbidden = rpc(j, "remove_store", {{"store", "default"}});
  check_same_void(api.remove_store("default"), forbidden, "remove default");
  error_data(forbidden, "forbidden");
  check_same_void(api.remove_store("nosuch"),
                  rpc(j, "remove_store", {{"store", "nosuch"}}),
                  "remove nosuch");
  check_same_void(api.remove_store("cs_api"),
                  rpc(j, "remove_store", {{"store", "cs_json"}}), "remove");
  check_same(api.get_store_status("cs_api"),
             rpc(j, "get_store_status", {{"store", "cs_api"}}),
             "status of a removed store");
}

TEST_CASE("streams: append, idempotence, concurrency errors and reads") {
  auto api = api_client_at(1);
  auto j = json_client_at(1);
  const std::string st = "cs_streams";
  ok(j, "create_store", {{"store", st}});

  // An append by the C++ client, retried by the JSON client: idempotence
  // answers the original result, so both results must be equal.
  auto batch1 = two_events();
  auto a1 = api.append_events(st, "s1", expected_version::no_stream(), batch1);
  REQUIRE_MESSAGE(a1, client_system().render(a1.error()));
  CHECK(a1->version == 1);
  CHECK(a1->position == 1);
  check_same(a1, rpc(j, "append_events", to_params(st, "s1", "no_stream",
                                                   batch1)),
             "retry of the C++ append");
  // And the other way round.
  auto batch2 = two_events();
  batch2[1].content_type = "application/octet-stream";
  batch2[1].data = "aGVsbG8=";
  auto a2_j = rpc(j, "append_events", to_params(st, "s2", "any", batch2));
  check_same(api.append_events(st, "s2", expected_version::any(), batch2),
             a2_j, "retry of the JSON append");
  // Explicit versions: exactly(1) on s1, then stream_exists.
  auto batch3 = std::vector<event_data>{{"OrderShipped", json::object(),
                                         nullptr, uuid4(), ""}};
  auto a3 = api.append_events(st, "s1", expected_version::exactly(1), batch3);
  check_same(a3, rpc(j, "append_events", to_params(st, "s1", 1, batch3)),
             "exactly 1");
  CHECK((a3 && a3->version == 2));
  auto batch4 = std::vector<event_data>{{"Noted", 7, nullptr, uuid4(), ""}};
  check_same(api.append_events(st, "s1", expected_version::stream_exists(),
                               batch4),
             rpc(j, "append_events",
                 to_params(st, "s1", "stream_exists", batch4)),
             "stream_exists");

  // Errors of append_events.
  auto fresh = std::vector<event_data>{{"X", 1, nullptr, uuid4(), ""}};
  for (auto [ev, ev_json] :
       {std::pair{expected_version::exactly(0), json(0)},
        std::pair{expected_version::no_stream(), json("no_stream")},
        std::pair{expected_version::exactly(-1), json(-1)}}) {
    auto resp = rpc(j, "append_events", to_params(st, "s1", ev_json, fresh));
    check_same(api.append_events(st, "s1", ev, fresh), resp,
               "wrong version " + ev_json.dump());
    auto data = error_data(resp, "wrong_expected_version");
    CHECK(data["current_version"] == 3);
    CHECK(data["expected_version"] == ev_json);
  }
  {
    auto resp = rpc(j, "append_events",
                    to_params(st, "s_missing", "stream_exists", fresh));
    check_same(api.append_events(st, "s_missing",
                                 expected_version::stream_exists(), fresh),
               resp, "stream_exists on a missing stream");
    CHECK(error_data(resp, "wrong_expected_version")["current_version"] == -1);
  }
  {
    auto dup = std::vector<event_data>{batch1[1], fresh[0]};
    auto resp = rpc(j, "append_events", to_params(st, "s1", "any", dup));
    check_same(api.append_events(st, "s1", expected_version::any(), dup),
               resp, "duplicate_event");
    error_data(resp, "duplicate_event");
  }
  {
    auto bad = std::vector<event_data>{fresh[0], {"X", 1, nullptr, "nope", ""}};
    auto resp = rpc(j, "append_events", to_params(st, "s1", "any", bad));
    check_same(api.append_events(st, "s1", expected_version::any(), bad), resp,
               "bad event id");
    CHECK(error_data(resp, "invalid_params")["field"] == "events[1].event_id");
    auto no_type = std::vector<event_data>{{"", 1, nullptr, "", ""}};
    check_same(api.append_events(st, "s1", expected_version::any(), no_type),
               rpc(j, "append_events", to_params(st, "s1", "any", no_type)),
               "empty event_type");
    check_same(api.append_events(st, "$all", expected_version::any(), fresh),
               rpc(j, "append_events", to_params(st, "$all", "any", fresh)),
               "stream $all");
    check_same(api.append_events("nosuch", "s1", expected_version::any(),
                                 fresh),
               rpc(j, "append_events",
                   to_params("nosuch", "s1", "any", fresh)),
               "missing store");
    check_same(api.append_events(st, "s1", expected_version::exactly(-2),
                                 fresh),
               rpc(j, "append_events", to_params(st, "s1", -2, fresh)),
               "expected_version -2");
  }
  // An empty append writes nothing and answers the current version.
  check_same(api.append_events(st, "s7", expected_version::any(), {}),
             rpc(j, "append_events", to_params(st, "s7", "any", {})),
             "empty append");

  // get_events with every option.
  struct get_case {
    std::string stream;
    read_options opts;
  };
  std::vector<get_case> cases{
    {"s1", {}},
    {"s1", {1, 2, direction::forward}},
    {"s1", {std::nullopt, 2, direction::backward}},
    {"s1", {0, 5, direction::backward}},
    {"s1", {100, 5, direction::forward}},
    {"s1", {100, 5, direction::backward}},
    {"s2", {}},
    {"nothing_here", {}},
    {"s1", {std::nullopt, 0, direction::forward}},
    {"s1", {-1, std::nullopt, direction::forward}},
    {"s1", {std::nullopt, 10001, direction::forward}},
    {"", {}},
  };
  for (auto& c : cases) {
    json p{{"store", st},
           {"stream", c.stream},
           {"direction",
            c.opts.dir == direction::forward ? "forward" : "backward"}};
    if (c.opts.start)
      p["start"] = *c.opts.start;
    if (c.opts.count)
      p["count"] = *c.opts.count;
    auto resp = rpc(j, "get_events", p);
    auto x = api.get_events(st, c.stream, c.opts);
    if (resp.contains("result")) {
      REQUIRE_MESSAGE(x, client_system().render(x.error()));
      CHECK(json(*x) == resp["result"]["events"]);
    } else {
      check_same(x, resp, "get_events " + p.dump());
    }
  }
  {
    auto resp = rpc(j, "get_events", {{"store", st}, {"stream", "s2"}});
    auto x = api.get_events(st, "s2");
    REQUIRE(x);
    REQUIRE(x->size() == 2);
    CHECK((*x)[1].content_type == "application/octet-stream");
    CHECK((*x)[1].data == "aGVsbG8=");
    CHECK((*x)[0].metadata == json{{"correlation_id", "c-1"}});
    CHECK((*x)[0].created_epoch > 0);
  }
  same_call(api, j, "get_events",
            {{"store", st}, {"stream", "s1"}, {"direction", "sideways"}});
  check_same(api.get_events("nosuch", "s1"),
             rpc(j, "get_events", {{"store", "nosuch"}, {"stream", "s1"}}),
             "get_events of a missing store");

  // get_version.
  for (auto stream : {"s1", "s2", "s7", "never", "$all", ""})
    check_same(api.get_version(st, stream),
               rpc(j, "get_version", {{"store", st}, {"stream", stream}}),
               std::string{"get_version "} + stream, "version");
  check_same(api.get_version("nosuch", "s1"),
             rpc(j, "get_version", {{"store", "nosuch"}, {"stream", "s1"}}),
             "get_version of a missing store");

  // get_streams, page by page and with bad limits.
  {
    auto page1 = api.get_streams(st, std::nullopt, 1);
    check_same(page1, rpc(j, "get_streams", {{"store", st}, {"limit", 1}}),
               "get_streams limit 1");
    REQUIRE(page1);
    REQUIRE(page1->next_after);
    check_same(api.get_streams(st, page1->next_after, 1),
               rpc(j, "get_streams", {{"store", st},
                                      {"after", *page1->next_after},
                                      {"limit", 1}}),
               "get_streams page 2");
    check_same(api.get_streams(st), rpc(j, "get_streams", {{"store", st}}),
               "get_streams");
    check_same(api.get_streams(st, "s9"),
               rpc(j, "get_streams", {{"store", st}, {"after", "s9"}}),
               "get_streams after the last");
    check_same(api.get_streams(st, std::nullopt, 0),
               rpc(j, "get_streams", {{"store", st}, {"limit", 0}}),
               "get_streams limit 0");
  }

  // read_all.
  std::vector<read_all_options> reads{
    {},
    {1, 2, direction::forward},
    {std::nullopt, 1, direction::backward},
    {2, 3, direction::backward},
    {0, 1, direction::backward},
    {1000, 5, direction::forward},
    {-1, std::nullopt, direction::forward},
    {std::nullopt, 0, direction::forward},
  };
  for (auto& o : reads) {
    json p{{"store", st},
           {"direction", o.dir == direction::forward ? "forward" : "backward"}};
    if (o.from_position)
      p["from_position"] = *o.from_position;
    if (o.count)
      p["count"] = *o.count;
    check_same(api.read_all(st, o), rpc(j, "read_all", p),
               "read_all " + p.dump());
  }
  check_same(api.read_all("nosuch"),
             rpc(j, "read_all", {{"store", "nosuch"}}),
             "read_all of a missing store");
  ok(j, "remove_store", {{"store", st}});
}

TEST_CASE("snapshots: record, read, list and delete") {
  auto api = api_client_at(2);
  auto j = json_client_at(2);
  const std::string st = "cs_snaps";
  ok(j, "create_store", {{"store", st}});

  snapshot s1;
  s1.source_uuid = "order-42";
  s1.stream_uuid = "order-42";
  s1.version = 1;
  s1.data = {{"paid", true}};
  s1.source_type = "Order";
  auto rec = api.record_snapshot(st, s1);
  REQUIRE_MESSAGE(rec, client_system().render(rec.error()));
  ok(j, "record_snapshot", {{"store", st},
                            {"source_uuid", "order-42"},
                            {"stream_uuid", "order-42"},
                            {"version", 3},
                            {"data", {{"shipped", true}}},
                            {"metadata", {{"by", "test"}}}});
  s1.version = 2;
  s1.source_uuid = "order-43";
  REQUIRE(api.record_snapshot(st, s1));

  // read_snapshot: latest, by version, missing.
  auto key = json{{"store", st},
                  {"source_uuid", "order-42"},
                  {"stream_uuid", "order-42"}};
  check_same(api.read_snapshot(st, "order-42", "order-42"),
             rpc(j, "read_snapshot", key), "latest", "snapshot");
  auto r1 = api.read_snapshot(st, "order-42", "order-42", 1);
  check_same(r1, rpc(j, "read_snapshot", with(key, "version", 1)),
             "version 1", "snapshot");
  REQUIRE(r1);
  CHECK(r1->source_type == "Order");
  CHECK(r1->data == json{{"paid", true}});
  auto missing = rpc(j, "read_snapshot", with(key, "version", 9));
  check_same(api.read_snapshot(st, "order-42", "order-42", 9), missing,
             "missing version");
  CHECK(error_data(missing, "not_found")["what"] == "snapshot");
  check_same(api.read_snapshot(st, "", "order-42"),
             rpc(j, "read_snapshot", {{"store", st},
                                      {"source_uuid", ""},
                                      {"stream_uuid", "order-42"}}),
             "empty source_uuid");
  check_same(api.read_snapshot("nosuch", "a", "b"),
             rpc(j, "read_snapshot", {{"store", "nosuch"},
                                      {"source_uuid", "a"},
                                      {"stream_uuid", "b"}}),
             "missing store");
  {
    snapshot bad = s1;
    bad.version = -1;
    check_same_void(api.record_snapshot(st, bad),
                    rpc(j, "record_snapshot", {{"store", st},
                                               {"source_uuid", "order-43"},
                                               {"stream_uuid", "order-42"},
                                               {"version", -1},
                                               {"data", 1}}),
                    "version -1");
  }

  // list_snapshots with and without keys.
  check_same(api.list_snapshots(st),
             rpc(j, "list_snapshots", {{"store", st}}), "all", "snapshots");
  check_same(api.list_snapshots(st, "order-42"),
             rpc(j, "list_snapshots",
                 {{"store", st}, {"source_uuid", "order-42"}}),
             "by source", "snapshots");
  check_same(api.list_snapshots(st, std::nullopt, "order-42"),
             rpc(j, "list_snapshots",
                 {{"store", st}, {"stream_uuid", "order-42"}}),
             "by stream", "snapshots");
  check_same(api.list_snapshots(st, "nobody"),
             rpc(j, "list_snapshots", {{"store", st}, {"source_uuid", "nobody"}}),
             "none", "snapshots");

  // delete_snapshot: by the C++ client, then again by both.
  REQUIRE(api.delete_snapshot(st, "order-42", "order-42", 1));
  auto del = with(key, "version", 1);
  auto again = rpc(j, "delete_snapshot", del);
  check_same_void(api.delete_snapshot(st, "order-42", "order-42", 1), again,
                  "delete again");
  CHECK(error_data(again, "not_found")["what"] == "snapshot");
  CHECK(api.delete_snapshot(st, "order-42", "order-42", 3));
  check_same(api.list_snapshots(st),
             rpc(j, "list_snapshots", {{"store", st}}), "after deletes", "snapshots");
  ok(j, "remove_store", {{"store", st}});
}

TEST_CASE("subscription management, health, cluster_status, raw calls") {
  // What a node answers about itself (its name, its subscribers) is
  // compared through the same node: the JSON client at 4 talks to the node
  // the C++ client at 3 talks to.
  auto api = api_client_at(3);
  auto j = json_client_at(4);
  const std::string st = "cs_subs";
  ok(j, "create_store", {{"store", st}});

  // A persistent subscription made over JSON-RPC, seen and removed by the
  // C++ client.
  ok(j, "save_subscription", {{"store", st},
                              {"type", "by_stream"},
                              {"selector", "$all"},
                              {"name", "audit"}});
  check_same(api.get_subscriptions(st),
             rpc(j, "get_subscriptions", {{"store", st}}),
             "get_subscriptions", "subscriptions");
  auto subs = api.get_subscriptions(st);
  REQUIRE(subs);
  REQUIRE(subs->size() == 1);
  CHECK((*subs)[0].name == "audit");
  CHECK((*subs)[0].persistent);
  check_same_void(api.remove_subscription(st, "by_stream", "$all", "nope"),
                  rpc(j, "remove_subscription", {{"store", st},
                                                 {"type", "by_stream"},
                                                 {"selector", "$all"},
                                                 {"name", "nope"}}),
                  "remove a missing subscription");
  CHECK(api.remove_subscription(st, "by_stream", "$all", "audit"));
  // get_subscriptions is served by the answering node's replica, which
  // applies the removal a moment after the leader answered it.
  CHECK(wait_until(
    [&] {
      auto r = rpc(j, "get_subscriptions", {{"store", st}});
      return r.contains("result") && r["result"]["subscriptions"].empty();
    },
    std::chrono::seconds{5}));
  check_same(api.get_subscriptions(st),
             rpc(j, "get_subscriptions", {{"store", st}}),
             "get_subscriptions after remove", "subscriptions");
  check_same(api.get_subscriptions("nosuch"),
             rpc(j, "get_subscriptions", {{"store", "nosuch"}}),
             "get_subscriptions of a missing store");

  // Node and cluster.
  check_same(api.health(), rpc(j, "health"), "health");
  check_same(api.cluster_status(), rpc(j, "cluster_status"),
             "cluster_status");

  // The generic path: unknown methods and params, params that are not an
  // object.
  same_call(api, j, "launch_rockets");
  same_call(api, j, "health", {{"verbose", true}});
  same_call(api, j, "health", json::array({1}));
  same_call(api, j, "get_version", {{"store", 5}, {"stream", "s"}});
  {
    auto resp = rpc(j, "health", nullptr);
    auto x = api.call_text("health", "null");
    REQUIRE(x);
    CHECK(json::parse(*x) == resp["result"]);
    auto empty = api.call_text("health", "");
    REQUIRE(empty);
    CHECK(json::parse(*empty) == resp["result"]);
  }

  // What only the CAF API answers: params that are not JSON, and methods
  // that need a subscriber (client::subscribe) called without one.
  auto not_json = api.call_text("health", "{\"a\":");
  REQUIRE(!not_json);
  CHECK(reason_of(not_json.error()) == errc::parse_error);
  std::string deep(300, '[');
  deep += std::string(300, ']');
  auto too_deep = api.call_text("health", deep);
  REQUIRE(!too_deep);
  CHECK(reason_of(too_deep.error()) == errc::too_large);
  CHECK(data_of(too_deep.error())["limit"] == 256);
  for (auto m : {"save_subscription", "unsubscribe", "ack_event"}) {
    auto x = api.call(m, {{"store", st}});
    REQUIRE(!x);
    CHECK(reason_of(x.error()) == errc::method_not_found);
    CHECK(data_of(x.error()) == json{{"reason", "method_not_found"}});
  }
  ok(j, "remove_store", {{"store", st}});
}

TEST_CASE("connecting to a port nobody listens on fails at once") {
  // A port that was free a moment ago.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto port = ntohs(addr.sin_port);
  ::close(fd);
  auto t0 = std::chrono::steady_clock::now();
  auto c = client::connect(client_system(), "127.0.0.1", port);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(!c);
  CHECK(reason_of(c.error()) == errc::unavailable);
  CHECK(message_of(c.error()).find("127.0.0.1:" + std::to_string(port))
        != std::string::npos);
  CHECK(took < std::chrono::seconds{5});
}

TEST_CASE("connecting to a port that speaks no CAF fails after the timeout") {
  // The JSON-RPC port accepts the connection but never completes CAF's
  // handshake.
  auto e = nodes()[0];
  client_options opts;
  opts.connect_timeout = std::chrono::seconds{2};
  auto t0 = std::chrono::steady_clock::now();
  auto c = client::connect(client_system(), e.host, e.json_port, opts);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(!c);
  CHECK(reason_of(c.error()) == errc::unavailable);
  CHECK(took < std::chrono::seconds{10});
  // The node still serves both ports.
  auto j = json_client_at(0);
  expect_alive(j);
  CHECK(api_client_at(0).health());
}

TEST_CASE("calls to a node that stopped fail, not hang") {
  node_process node;
  client_options opts;
  opts.call_timeout = std::chrono::seconds{20};
  auto c = client::connect(client_system(), "127.0.0.1", node.api_port(),
                           opts);
  REQUIRE_MESSAGE(c, client_system().render(c.error()));
  REQUIRE(c->health());
  REQUIRE(node.stop() == 0);
  auto t0 = std::chrono::steady_clock::now();
  auto h = c->health();
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(!h);
  CHECK(reason_of(h.error()) == errc::unavailable);
  CHECK(took < std::chrono::seconds{10});
  // A write whose answer is lost has an unknown outcome.
  auto a = c->append_events("", "s", expected_version::any(),
                            {event_data{"X", 1}});
  REQUIRE(!a);
  CHECK((reason_of(a.error()) == errc::timeout
         || reason_of(a.error()) == errc::unavailable));
}

TEST_CASE("the example program of docs/client-example.cpp runs") {
  auto example = std::getenv("CXESDB_CLIENT_EXAMPLE");
  REQUIRE_MESSAGE(example != nullptr, "CXESDB_CLIENT_EXAMPLE is not set");
  auto e = nodes()[0];
  for (int run = 0; run < 2; ++run) {
    // The second run finds the store already there.
    auto cmd = std::string{example} + " " + e.host + " "
               + std::to_string(e.api_port) + " cs_example 2>&1";
    auto pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string out;
    char buf[512];
    while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
      out.append(buf, n);
    auto status = ::pclose(pipe);
    INFO("output:\n" << out);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(out.find("0 OrderPlaced") != std::string::npos);
    CHECK(out.find("1 OrderPaid") != std::string::npos);
    CHECK(out.find("stream is at version 1") != std::string::npos);
    CHECK(out.find("delivered 0 OrderPlaced") != std::string::npos);
    CHECK(out.find("delivered 1 OrderPaid") != std::string::npos);
    if (run == 0)
      CHECK(out.find("created store cs_example") != std::string::npos);
  }
}

int main(int argc, char** argv) {
  doctest::Context ctx{argc, argv};
  auto rc = ctx.run();
  stop_client_system();
  return rc;
}
