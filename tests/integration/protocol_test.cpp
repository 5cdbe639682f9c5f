// Integration tests of the client protocol (docs/protocol.md) against a real
// cxesdb-node on 127.0.0.1: every method, every error reason that applies to
// one node, framing, batches, notifications and pipelining. After every error
// the test checks that the same connection still answers.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <ctime>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;

namespace {

/// One node with default limits, shared by the test cases of this file. Each
/// test case works in its own store, so they do not see each other's events.
node_process& default_node() {
  static std::unique_ptr<node_process> node;
  if (!node) {
    node = std::make_unique<node_process>();
  } else if (!node->running()) {
    FAIL_CHECK("the node died (status " << node->last_exit_status().value_or(-1)
                                        << "); log tail:\n"
                                        << node->log_tail(1500));
    node->start();
  }
  return *node;
}

/// A node with small limits, to test them without sending megabytes.
node_process& small_node() {
  static std::unique_ptr<node_process> node;
  if (!node) {
    node_options opts;
    opts.node_name = "alpha";
    opts.extra_args = {"--max-message-bytes", "4096",   "--max-event-bytes",
                       "2048",                "--max-batch-requests", "5"};
    node = std::make_unique<node_process>(opts);
  } else if (!node->running()) {
    FAIL_CHECK("the small node died; log tail:\n" << node->log_tail());
    node->start();
  }
  return *node;
}

/// Creates `store` on `c`'s node (fresh, so positions start at 0).
void create_store(json_client& c, const std::string& store,
                  json config = json::object()) {
  json params{{"store", store}};
  if (!config.empty())
    params["config"] = config;
  auto r = ok(c, "create_store", params);
  CHECK(r.value("store", "") == store);
  CHECK(r.value("status", "") == "running");
}

json append(json_client& c, const std::string& store, json stream,
            json events, json expected = "any") {
  return ok(c, "append_events", {{"store", store},
                                 {"stream", stream},
                                 {"expected_version", expected},
                                 {"events", events}});
}

json append_params(const std::string& store, json stream, json events,
                   json expected = "any") {
  return {{"store", store},
          {"stream", stream},
          {"expected_version", expected},
          {"events", events}};
}

/// `n` append requests of one event each to `stream`, with ids 0..n-1, as
/// NDJSON lines.
std::string append_lines(const std::string& store, const std::string& stream,
                         int n) {
  std::string wire;
  for (int i = 0; i < n; ++i)
    wire += json({{"jsonrpc", "2.0"},
                  {"id", i},
                  {"method", "append_events"},
                  {"params", append_params(store, stream, make_events(1))}})
              .dump()
            + "\n";
  return wire;
}

/// Sends a request line with a string id and returns its id.
std::string send_probe(json_client& c, const std::string& id) {
  json req{{"jsonrpc", "2.0"}, {"id", id}, {"method", "health"}};
  REQUIRE(c.send(req));
  return id;
}

/// Requires that the next message on `c` is the answer to the health probe
/// with `id`: nothing else (no response to a notification) came before it.
void expect_next_is_probe(json_client& c, const std::string& id) {
  auto msg = read_json(c);
  INFO("message: " << brief(msg));
  REQUIRE(msg.is_object());
  CHECK(msg["id"] == id);
  CHECK(msg.contains("result"));
}

/// Parses "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" into microseconds since 1970; -1 if
/// it does not have exactly that form.
int64_t parse_created(const std::string& s) {
  static const std::regex re{
    "^(\\d{4})-(\\d{2})-(\\d{2})T(\\d{2}):(\\d{2}):(\\d{2})\\.(\\d{6})Z$"};
  std::smatch m;
  if (!std::regex_match(s, m, re))
    return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  auto secs = static_cast<int64_t>(timegm(&tm));
  return secs * 1000000 + std::stoll(m[7]);
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Checks the fields every returned event carries.
void check_event_shape(const json& e) {
  INFO("event: " << e.dump());
  REQUIRE(e.is_object());
  for (auto key : {"stream_id", "event_number", "position", "event_id",
                   "event_type", "data", "metadata", "content_type", "created",
                   "created_epoch"})
    CHECK_MESSAGE(e.contains(key), "missing " << key);
  CHECK(e["stream_id"].is_string());
  CHECK(e["event_number"].is_number_integer());
  CHECK(e["position"].is_number_integer());
  CHECK(is_uuid(e["event_id"]));
  CHECK(e["event_type"].is_string());
  CHECK(e["content_type"].is_string());
  REQUIRE(e["created"].is_string());
  REQUIRE(e["created_epoch"].is_number_integer());
  auto created = parse_created(e["created"].get<std::string>());
  CHECK(created >= 0);
  CHECK(created == e["created_epoch"].get<int64_t>());
}

} // namespace

// -- health and params --------------------------------------------------------

TEST_CASE("health answers ok with the node name") {
  auto c = default_node().connect();
  auto r = ok(c, "health");
  CHECK(r == json({{"status", "ok"}, {"node", "node1"}}));
  auto s = small_node().connect();
  auto r2 = ok(s, "health");
  CHECK(r2 == json({{"status", "ok"}, {"node", "alpha"}}));
}

TEST_CASE("params absent means {}, params not an object is invalid_params") {
  auto c = default_node().connect();
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}\n"));
  auto r = read_json(c);
  CHECK(r["id"] == 1);
  CHECK(result_of(r)["status"] == "ok");
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"list_stores\"}\n"));
  r = read_json(c);
  CHECK(r["id"] == 2);
  CHECK(result_of(r)["stores"].contains("default"));
  for (auto bad : {json::array({1}), json(5), json("x"), json(true)}) {
    auto resp = rpc(c, "list_stores", bad);
    auto data = check_error(resp, "invalid_params", bad.dump());
    CHECK(data.value("field", "") == "params");
  }
  // null params: either {} or invalid_params field params, never silence.
  auto resp = rpc(c, "health", nullptr);
  if (resp.contains("error"))
    CHECK(check_error(resp, "invalid_params").value("field", "") == "params");
  expect_alive(c);
}

TEST_CASE("unknown params are invalid_params naming the param") {
  auto c = default_node().connect();
  expect_invalid(c, "health", {{"bogus", 1}}, "bogus");
  expect_invalid(c, "list_stores", {{"verbose", true}}, "verbose");
  expect_invalid(c, "get_version", {{"stream", "s"}, {"strem", "s"}}, "strem");
  expect_invalid(c, "append_events",
                 {{"stream", "s"}, {"events", json::array()}, {"expect", 1}},
                 "expect");
  expect_invalid(c, "read_all", {{"from", 0}}, "from");
  expect_invalid(c, "list_snapshots", {{"source", "x"}}, "source");
  expect_alive(c);
}

// -- stores -------------------------------------------------------------------

TEST_CASE("store lifecycle: create, list, status, config, remove") {
  auto& node = default_node();
  auto c = node.connect();
  auto before = now_us();
  json cfg{{"timeout_ms", 5000},
           {"description", "orders of the shop"},
           {"tags", {"shop", "eu"}}};
  auto r = ok(c, "create_store", {{"store", "orders"}, {"config", cfg}});
  CHECK(r["store"] == "orders");
  CHECK(r["status"] == "running");
  auto config = r["config"];
  CHECK(config["timeout_ms"] == 5000);
  CHECK(config["replication_factor"] == 1); // min(3, cluster size 1)
  CHECK(config["description"] == "orders of the shop");
  CHECK(config["tags"] == json({"shop", "eu"}));
  CHECK(config["data_dir"].is_string());
  CHECK(config["created_at"].is_string());
  CHECK(is_directory(node.data_dir() + "/orders"));
  (void) before;

  SUBCASE("the new store accepts writes at once") {
    auto a = append(c, "orders", "o-1", make_events(2));
    CHECK(a == json({{"version", 1}, {"position", 1}}));
  }

  auto list = ok(c, "list_stores");
  REQUIRE(list["stores"].is_object());
  REQUIRE(list["stores"].contains("orders"));
  CHECK(list["stores"]["orders"]["status"] == "running");
  CHECK(list["stores"]["orders"]["config"] == config);
  REQUIRE(list["stores"].contains("default"));
  CHECK(list["stores"]["default"]["status"] == "running");

  CHECK(ok(c, "get_store_status", {{"store", "orders"}})["status"]
        == "running");
  CHECK(ok(c, "get_store_config", {{"store", "orders"}})
        == json({{"config", config}}));

  err(c, "create_store", {{"store", "orders"}}, "already_exists");
  expect_alive(c);
  err(c, "create_store", {{"store", "default"}}, "already_exists");

  CHECK(ok(c, "remove_store", {{"store", "orders"}})
        == json({{"removed", true}}));
  CHECK(!is_directory(node.data_dir() + "/orders"));
  expect_not_found(c, "get_store_status", {{"store", "orders"}}, "store");
  expect_not_found(c, "remove_store", {{"store", "orders"}}, "store");
  CHECK(!ok(c, "list_stores")["stores"].contains("orders"));

  // Created again, it starts empty: removal deleted the data.
  auto again = ok(c, "create_store", {{"store", "orders"}});
  CHECK(again["config"]["timeout_ms"] == 10000); // the default
  CHECK(again["config"]["tags"].is_array());
  CHECK(ok(c, "get_version", {{"store", "orders"}, {"stream", "o-1"}})
        == json({{"version", -1}}));
  CHECK(ok(c, "read_all", {{"store", "orders"}})["events"].empty());
  ok(c, "remove_store", {{"store", "orders"}});
  expect_alive(c);
}

TEST_CASE("get_store_status: a store's figures, leader and members") {
  auto c = default_node().connect();
  ok(c, "create_store", {{"store", "figures"}});
  auto status = ok(c, "get_store_status", {{"store", "figures"}});
  CHECK(status["status"] == "running");
  CHECK(status["events"] == 0);
  CHECK(status["streams"] == 0);
  CHECK(status["last_position"].is_null());
  CHECK(status["bytes"].get<int64_t>() > 0);
  CHECK(status["applied_index"].get<int64_t>() > 0);
  REQUIRE(status["members"].size() == 1);
  CHECK(status["leader"] == status["members"][0]);
  ok(c, "append_events", {{"store", "figures"}, {"stream", "o-1"},
                          {"events", make_events(3)}});
  ok(c, "append_events", {{"store", "figures"}, {"stream", "o-2"},
                          {"events", make_events(1)}});
  auto after = ok(c, "get_store_status", {{"store", "figures"}});
  CHECK(after["events"] == 4);
  CHECK(after["streams"] == 2);
  CHECK(after["last_position"] == 3);
  CHECK(after["applied_index"].get<int64_t>()
        >= status["applied_index"].get<int64_t>() + 2);
  // A delete takes a stream away from the figures at once; its events
  // count until a scavenge deletes them.
  ok(c, "delete_stream", {{"store", "figures"}, {"stream", "o-2"}});
  after = ok(c, "get_store_status", {{"store", "figures"}});
  CHECK(after["streams"] == 1);
  CHECK(after["events"] == 4);
  ok(c, "remove_store", {{"store", "figures"}});
}

TEST_CASE("the default store: used when store is omitted, cannot be removed") {
  auto c = default_node().connect();
  auto stream = "dflt-" + uuid4();
  auto r = ok(c, "append_events",
              {{"stream", stream}, {"events", make_events(1)}});
  CHECK(r["version"] == 0);
  CHECK(ok(c, "get_version", {{"store", "default"}, {"stream", stream}})["version"]
        == 0);
  CHECK(ok(c, "get_events", {{"stream", stream}})["events"].size() == 1);
  CHECK(ok(c, "get_store_status")["status"] == "running");
  CHECK(ok(c, "get_store_status")["events"].get<int64_t>() >= 1);
  CHECK(ok(c, "get_store_config")["config"].is_object());
  err(c, "remove_store", {{"store", "default"}}, "forbidden");
  expect_alive(c);
  // remove_store with store omitted means the default store, too.
  err(c, "remove_store", json::object(), "forbidden");
  CHECK(ok(c, "get_store_status", {{"store", "default"}})["status"]
        == "running");
}

TEST_CASE("store ids are validated before anything touches the disk") {
  auto& node = default_node();
  auto c = node.connect();
  std::vector<json> bad{"../etc",   "A",   "",          "1abc",   "a-b",
                        "a.b",      "_system", "$all",  "Orders", "a b",
                        "a/b",      "ü",   std::string(64, 'a'), 5,
                        json::array({"a"}), json::object()};
  for (auto& id : bad) {
    CAPTURE(id.dump());
    expect_invalid(c, "create_store", {{"store", id}}, "store");
    expect_invalid(c, "get_store_status", {{"store", id}}, "store");
    expect_invalid(c, "append_events",
                   {{"store", id}, {"stream", "s"}, {"events", make_events(1)}},
                   "store");
  }
  // Nothing on disk: not inside the data dir, not next to it.
  CHECK(!is_directory(node.data_dir() + "/../etc"));
  CHECK(!is_directory(node.data_dir() + "/A"));
  CHECK(!is_directory(node.temp_dir() + "/etc"));
  auto stores = ok(c, "list_stores")["stores"];
  CHECK(!stores.contains("A"));
  CHECK(!stores.contains("../etc"));
  // Every other method rejects them the same way.
  for (auto method : {"remove_store", "get_store_config", "get_version",
                      "get_events", "get_streams", "read_all", "list_snapshots"}) {
    CAPTURE(method);
    json params{{"store", "../etc"}};
    if (std::string{method} == "get_version"
        || std::string{method} == "get_events")
      params["stream"] = "s";
    expect_invalid(c, method, params, "store");
  }
  // The longest and the shortest valid ids work.
  auto longest = "z" + std::string(62, '9');
  ok(c, "create_store", {{"store", longest}});
  CHECK(is_directory(node.data_dir() + "/" + longest));
  ok(c, "create_store", {{"store", "b"}});
  ok(c, "create_store", {{"store", "a_1"}});
  for (auto id : {longest, std::string{"b"}, std::string{"a_1"}})
    ok(c, "remove_store", {{"store", id}});
  expect_alive(c);
}

TEST_CASE("store config is validated") {
  auto c = default_node().connect();
  auto data = err(c, "create_store",
                  {{"store", "cfg_bad"}, {"config", {{"colour", "red"}}}},
                  "invalid_params");
  CHECK(data.value("field", "") == "config.colour");
  data = err(c, "create_store", {{"store", "cfg_bad"}, {"config", "x"}},
             "invalid_params");
  CHECK(data.value("field", "") == "config");
  data = err(c, "create_store",
             {{"store", "cfg_bad"}, {"config", {{"timeout_ms", "soon"}}}},
             "invalid_params");
  CHECK(data.value("field", "").rfind("config", 0) == 0);
  data = err(c, "create_store",
             {{"store", "cfg_bad"}, {"config", {{"tags", {1, 2}}}}},
             "invalid_params");
  CHECK(data.value("field", "").rfind("config", 0) == 0);
  data = err(c, "create_store",
             {{"store", "cfg_bad"}, {"config", {{"description", 7}}}},
             "invalid_params");
  CHECK(data.value("field", "").rfind("config", 0) == 0);
  // A rejected create leaves nothing behind.
  expect_not_found(c, "get_store_status", {{"store", "cfg_bad"}}, "store");
  CHECK(!is_directory(default_node().data_dir() + "/cfg_bad"));
  expect_alive(c);
}

TEST_CASE("every store method on a missing store is not_found (what: store)") {
  auto c = default_node().connect();
  const std::string s = "no_such_store";
  expect_not_found(c, "get_store_status", {{"store", s}}, "store");
  expect_not_found(c, "get_store_config", {{"store", s}}, "store");
  expect_not_found(c, "remove_store", {{"store", s}}, "store");
  expect_not_found(c, "append_events",
                   {{"store", s}, {"stream", "x"}, {"events", make_events(1)}},
                   "store");
  expect_not_found(c, "get_events", {{"store", s}, {"stream", "x"}}, "store");
  expect_not_found(c, "get_version", {{"store", s}, {"stream", "x"}}, "store");
  expect_not_found(c, "get_streams", {{"store", s}}, "store");
  expect_not_found(c, "read_all", {{"store", s}}, "store");
  expect_not_found(c, "record_snapshot",
                   {{"store", s},
                    {"source_uuid", "a"},
                    {"stream_uuid", "b"},
                    {"version", 1},
                    {"data", 1}},
                   "store");
  expect_not_found(c, "read_snapshot",
                   {{"store", s}, {"source_uuid", "a"}, {"stream_uuid", "b"}},
                   "store");
  expect_not_found(c, "delete_snapshot",
                   {{"store", s},
                    {"source_uuid", "a"},
                    {"stream_uuid", "b"},
                    {"version", 1}},
                   "store");
  expect_not_found(c, "list_snapshots", {{"store", s}}, "store");
  CHECK(!is_directory(default_node().data_dir() + "/" + s));
  expect_alive(c);
}

// -- streams --------------------------------------------------------------------

TEST_CASE("append_events and get_events round-trip every event field") {
  auto c = default_node().connect();
  create_store(c, "t_roundtrip");
  auto id0 = uuid4();
  auto id1 = uuid4();
  auto events = json::array(
    {{{"event_id", id0},
      {"event_type", "OrderPlaced"},
      {"data", {{"order", 42}, {"total", 99.5}, {"items", {"a", "b"}}}},
      {"metadata", {{"correlation_id", "c-1"}}},
      {"content_type", "application/json"}},
     {{"event_id", id1}, {"event_type", "OrderPaid"}, {"data", "just text ü"}},
     {{"event_type", "Blob"},
      {"data", "aGVsbG8gd29ybGQ="},
      {"content_type", "application/octet-stream"}},
     {{"event_type", "Nothing"}, {"data", nullptr}}});
  auto before = now_us();
  auto r = append(c, "t_roundtrip", "order-42", events, "no_stream");
  auto after = now_us();
  CHECK(r == json({{"version", 3}, {"position", 3}}));
  auto got = ok(c, "get_events", {{"store", "t_roundtrip"}, {"stream", "order-42"}});
  REQUIRE(got["events"].size() == 4);
  auto& ev = got["events"];
  for (size_t i = 0; i < 4; ++i) {
    check_event_shape(ev[i]);
    CHECK(ev[i]["stream_id"] == "order-42");
    CHECK(ev[i]["event_number"] == i);
    CHECK(ev[i]["position"] == i);
    auto created = ev[i]["created_epoch"].get<int64_t>();
    // Set when the event was accepted (allow 2 s of clock slack).
    CHECK(created >= before - 2000000);
    CHECK(created <= after + 2000000);
  }
  CHECK(ev[0]["event_id"] == id0);
  CHECK(ev[0]["event_type"] == "OrderPlaced");
  CHECK(ev[0]["data"] == events[0]["data"]);
  CHECK(ev[0]["metadata"] == json({{"correlation_id", "c-1"}}));
  CHECK(ev[0]["content_type"] == "application/json");
  CHECK(ev[1]["event_id"] == id1);
  CHECK(ev[1]["data"] == "just text ü");
  CHECK(ev[1]["metadata"].is_null());
  CHECK(ev[1]["content_type"] == "application/json");
  // Generated ids are UUIDv7 (version nibble 7), all different.
  CHECK(is_uuid(ev[2]["event_id"]));
  CHECK(ev[2]["event_id"].get<std::string>().substr(14, 1) == "7");
  CHECK(ev[3]["event_id"].get<std::string>().substr(14, 1) == "7");
  CHECK(ev[2]["event_id"] != ev[3]["event_id"]);
  CHECK(ev[2]["content_type"] == "application/octet-stream");
  CHECK(ev[2]["data"] == "aGVsbG8gd29ybGQ=");
  CHECK(ev[3]["data"].is_null());
  // All events of one batch share one acceptance instant or increase.
  CHECK(ev[0]["created_epoch"] <= ev[3]["created_epoch"]);

  // read_all returns the same records.
  auto all = ok(c, "read_all", {{"store", "t_roundtrip"}});
  CHECK(all["events"] == ev);
  // A second append continues numbering and positions.
  auto r2 = append(c, "t_roundtrip", "other", make_events(2));
  CHECK(r2 == json({{"version", 1}, {"position", 5}}));
  auto r3 = append(c, "t_roundtrip", "order-42", make_events(1), 3);
  CHECK(r3 == json({{"version", 4}, {"position", 6}}));
  ok(c, "remove_store", {{"store", "t_roundtrip"}});
}

TEST_CASE("expected_version: any, no_stream, stream_exists, integers") {
  auto c = default_node().connect();
  create_store(c, "t_expect");
  const std::string st = "t_expect";
  auto p = [&](json expected, json events) {
    return append_params(st, "s", std::move(events), std::move(expected));
  };

  SUBCASE("on a stream that does not exist") {
    auto d = err(c, "append_events", p("stream_exists", make_events(1)),
                 "wrong_expected_version");
    CHECK(d["current_version"] == -1);
    CHECK(d["expected_version"] == "stream_exists");
    d = err(c, "append_events", p(0, make_events(1)), "wrong_expected_version");
    CHECK(d["current_version"] == -1);
    CHECK(d["expected_version"] == 0);
    expect_alive(c);
    CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"]
          == -1);
    CHECK(ok(c, "append_events", p(-1, make_events(2)))
          == json({{"version", 1}, {"position", 1}}));
  }
  SUBCASE("no_stream, then integers, then conflicts") {
    CHECK(ok(c, "append_events", p("no_stream", make_events(3)))["version"]
          == 2);
    auto d = err(c, "append_events", p("no_stream", make_events(1)),
                 "wrong_expected_version");
    CHECK(d["current_version"] == 2);
    CHECK(d["expected_version"] == "no_stream");
    d = err(c, "append_events", p(-1, make_events(1)), "wrong_expected_version");
    CHECK(d["current_version"] == 2);
    CHECK(d["expected_version"] == -1);
    d = err(c, "append_events", p(1, make_events(1)), "wrong_expected_version");
    CHECK(d["current_version"] == 2);
    CHECK(d["expected_version"] == 1);
    d = err(c, "append_events", p(5, make_events(1)), "wrong_expected_version");
    CHECK(d["current_version"] == 2);
    CHECK(d["expected_version"] == 5);
    // Failed appends wrote nothing.
    CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"]
          == 2);
    CHECK(ok(c, "read_all", {{"store", st}})["events"].size() == 3);
    CHECK(ok(c, "append_events", p(2, make_events(2)))
          == json({{"version", 4}, {"position", 4}}));
    CHECK(ok(c, "append_events", p("stream_exists", make_events(1)))
          == json({{"version", 5}, {"position", 5}}));
    CHECK(ok(c, "append_events", p("any", make_events(1)))
          == json({{"version", 6}, {"position", 6}}));
    // expected_version absent means "any".
    CHECK(ok(c, "append_events",
             {{"store", st}, {"stream", "s"}, {"events", make_events(1)}})
          == json({{"version", 7}, {"position", 7}}));
  }
  SUBCASE("empty events check expected_version and write nothing") {
    CHECK(ok(c, "append_events", p("any", json::array()))
          == json({{"version", -1}, {"position", nullptr}}));
    CHECK(ok(c, "append_events", p("no_stream", json::array()))
          == json({{"version", -1}, {"position", nullptr}}));
    auto d = err(c, "append_events", p("stream_exists", json::array()),
                 "wrong_expected_version");
    CHECK(d["current_version"] == -1);
    ok(c, "append_events", p("any", make_events(2)));
    CHECK(ok(c, "append_events", p(1, json::array()))
          == json({{"version", 1}, {"position", nullptr}}));
    d = err(c, "append_events", p(7, json::array()), "wrong_expected_version");
    CHECK(d["current_version"] == 1);
    CHECK(d["expected_version"] == 7);
    // An empty append to a new stream does not create it.
    ok(c, "append_events", append_params(st, "ghost", json::array()));
    auto streams = ok(c, "get_streams", {{"store", st}})["streams"];
    CHECK(streams == json({"s"}));
  }
  SUBCASE("invalid expected_version values") {
    for (auto bad : {json(-2), json("maybe"), json(1.5), json(true),
                     json::object(), json("-1")}) {
      CAPTURE(bad.dump());
      expect_invalid(c, "append_events", p(bad, make_events(1)),
                     "expected_version");
    }
    CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"]
          == -1);
  }
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("idempotent appends and duplicate_event") {
  auto c = default_node().connect();
  const std::string st = "t_idem";
  create_store(c, st);
  auto batch = make_events(3);
  auto first = append(c, st, "s", batch, "no_stream");
  CHECK(first == json({{"version", 2}, {"position", 2}}));
  append(c, st, "t", make_events(2)); // positions 3, 4

  // The same batch again, with the same request: same answer, nothing
  // written (this is the retry after a lost answer).
  auto again = ok(c, "append_events", append_params(st, "s", batch, "no_stream"));
  CHECK(again == first);
  again = append(c, st, "s", batch, "any");
  CHECK(again == first);
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"] == 2);
  CHECK(ok(c, "read_all", {{"store", st}})["events"].size() == 5);

  // Some but not all ids already there: duplicate_event, nothing written.
  auto mixed = json::array({batch[2], make_event("New")});
  err(c, "append_events", append_params(st, "s", mixed), "duplicate_event");
  expect_alive(c);
  auto mixed2 = json::array({make_event("New"), batch[0]});
  err(c, "append_events", append_params(st, "s", mixed2), "duplicate_event");
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"] == 2);
  CHECK(ok(c, "read_all", {{"store", st}})["events"].size() == 5);

  // A retry with an integer expected_version, too.
  auto batch2 = make_events(2);
  auto second = append(c, st, "s", batch2, 2);
  CHECK(second == json({{"version", 4}, {"position", 6}}));
  auto evs = ok(c, "get_events", {{"store", st}, {"stream", "s"}})["events"];
  CHECK(append(c, st, "s", batch2, 2) == second);
  // The retry changed nothing, not even the creation times.
  CHECK(ok(c, "get_events", {{"store", st}, {"stream", "s"}})["events"] == evs);

  // Decisions (docs/protocol.md): a run of consecutive written ids answers
  // with the version and position of its last event; the same ids in another
  // order are duplicate_event; an id is the event, whatever the rest says.
  CHECK(append(c, st, "s", json::array({batch[1]}))
        == json({{"version", 1}, {"position", 1}}));
  CHECK(append(c, st, "s", json::array({batch[1], batch[2]}))
        == json({{"version", 2}, {"position", 2}}));
  err(c, "append_events",
      append_params(st, "s", json::array({batch[1], batch[0]})),
      "duplicate_event");
  auto changed = batch[0];
  changed["data"] = "something else";
  CHECK(append(c, st, "s", json::array({changed}))
        == json({{"version", 0}, {"position", 0}}));
  CHECK(ok(c, "get_events", {{"store", st}, {"stream", "s"}})["events"] == evs);

  // The same ids in another stream are other events.
  CHECK(append(c, st, "u", batch)
        == json({{"version", 2}, {"position", 9}}));

  // The same event id twice in one batch.
  auto e = make_event("Twice");
  expect_invalid(c, "append_events",
                 append_params(st, "v", json::array({e, make_event("x"), e})),
                 "events");
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "v"}})["version"]
        == -1);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("append_events validates events") {
  auto c = default_node().connect();
  const std::string st = "t_validate";
  create_store(c, st);
  auto with_bad_fourth = [&](json bad) {
    auto events = make_events(3);
    events.push_back(std::move(bad));
    return append_params(st, "s", events);
  };
  auto ev = [](json fields) {
    json e{{"event_type", "T"}, {"data", 1}};
    for (auto& [k, v] : fields.items()) {
      if (v.is_discarded())
        e.erase(k);
      else
        e[k] = v;
    }
    return e;
  };
  json drop(json::value_t::discarded);
  expect_invalid(c, "append_events", with_bad_fourth(ev({{"event_type", drop}})),
                 "events[3].event_type");
  expect_invalid(c, "append_events", with_bad_fourth(ev({{"event_type", ""}})),
                 "events[3].event_type");
  expect_invalid(c, "append_events", with_bad_fourth(ev({{"event_type", 5}})),
                 "events[3].event_type");
  expect_invalid(c, "append_events",
                 with_bad_fourth(ev({{"event_type", std::string(256, 't')}})),
                 "events[3].event_type");
  expect_invalid(c, "append_events", with_bad_fourth(ev({{"data", drop}})),
                 "events[3].data");
  expect_invalid(c, "append_events",
                 with_bad_fourth(ev({{"event_id", "not-a-uuid"}})),
                 "events[3].event_id");
  expect_invalid(c, "append_events", with_bad_fourth(ev({{"event_id", 42}})),
                 "events[3].event_id");
  expect_invalid(c, "append_events",
                 with_bad_fourth(
                   ev({{"event_id", "0193a5c27f447c1a9d3e1b2c3d4e5f60"}})),
                 "events[3].event_id");
  expect_invalid(c, "append_events",
                 with_bad_fourth(
                   ev({{"event_id", "0193a5c2-7f44-7c1a-9d3e-1b2c3d4e5f6g"}})),
                 "events[3].event_id");
  expect_invalid(c, "append_events",
                 with_bad_fourth(ev({{"content_type", "text/plain"}})),
                 "events[3].content_type");
  expect_invalid(c, "append_events",
                 with_bad_fourth(ev({{"content_type",
                                      "application/octet-stream"},
                                     {"data", "not base64 !!"}})),
                 "events[3].data");
  expect_invalid(c, "append_events",
                 with_bad_fourth(ev({{"content_type",
                                      "application/octet-stream"},
                                     {"data", 17}})),
                 "events[3].data");
  expect_invalid(c, "append_events", with_bad_fourth(json("an event")),
                 "events[3]");
  expect_invalid(c, "append_events", append_params(st, "s", json("x")),
                 "events");
  expect_invalid(c, "append_events", append_params(st, "s", json::object()),
                 "events");
  expect_invalid(c, "append_events", {{"store", st}, {"stream", "s"}},
                 "events");
  expect_alive(c);
  // Nothing of the rejected batches was written.
  CHECK(ok(c, "read_all", {{"store", st}})["events"].empty());
  // The limits themselves are accepted.
  auto r = append(c, st, "s",
                  json::array({ev({{"event_type", std::string(255, 't')}}),
                               ev({{"event_id",
                                    "0193A5C2-7F44-7C1A-9D3E-1B2C3D4E5F60"}})}));
  CHECK(r["version"] == 1);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("stream ids are validated") {
  auto c = default_node().connect();
  const std::string st = "t_streams_valid";
  create_store(c, st);
  std::vector<json> bad{"",           std::string(1025, 's'),
                        "a\x01z",     "tab\there",
                        "new\nline",   std::string("nul\0x", 5),
                        "del\x7f",     "$all",
                        7,            nullptr,
                        json::array()};
  for (auto& s : bad) {
    CAPTURE(brief(s, 80));
    expect_invalid(c, "append_events", append_params(st, s, make_events(1)),
                   "stream");
    expect_invalid(c, "get_events", {{"store", st}, {"stream", s}}, "stream");
    expect_invalid(c, "get_version", {{"store", st}, {"stream", s}}, "stream");
  }
  expect_invalid(c, "append_events", {{"store", st}, {"events", make_events(1)}},
                 "stream");
  expect_invalid(c, "get_events", {{"store", st}}, "stream");
  expect_invalid(c, "get_version", {{"store", st}}, "stream");
  expect_alive(c);
  // At most 1024 bytes, counted in bytes; any other UTF-8 is fine.
  auto longest = std::string(1024, 's');
  CHECK(append(c, st, longest, make_events(1))["version"] == 0);
  auto utf8 = std::string(341, 's') + "\xe2\x82\xac"; // 344 bytes
  CHECK(append(c, st, utf8, make_events(1))["version"] == 0);
  CHECK(append(c, st, "заказ-1/€ $x", make_events(1))["version"] == 0);
  auto got = ok(c, "get_events", {{"store", st}, {"stream", "заказ-1/€ $x"}});
  REQUIRE(got["events"].size() == 1);
  CHECK(got["events"][0]["stream_id"] == "заказ-1/€ $x");
  // 342 three-byte characters are 1026 bytes.
  std::string too_long;
  for (int i = 0; i < 342; ++i)
    too_long += "\xe2\x82\xac";
  expect_invalid(c, "append_events", append_params(st, too_long, make_events(1)),
                 "stream");
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("a batch of more than 10000 events is too_large") {
  auto c = default_node().connect();
  const std::string st = "t_big_batch";
  create_store(c, st);
  auto events = json::array();
  for (int i = 0; i < 10001; ++i)
    events.push_back({{"event_type", "E"}, {"data", i}});
  auto d = err(c, "append_events", append_params(st, "s", events), "too_large");
  CHECK(d["limit"] == 10000);
  expect_alive(c);
  CHECK(ok(c, "read_all", {{"store", st}})["events"].empty());
  events.erase(events.size() - 1);
  CHECK(append(c, st, "s", events)
        == json({{"version", 9999}, {"position", 9999}}));
  auto got = ok(c, "get_events",
                {{"store", st}, {"stream", "s"}, {"start", 9990}, {"count", 100}});
  REQUIRE(got["events"].size() == 10);
  CHECK(got["events"][9]["data"] == 9999);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("get_events: start, count, direction, clipping") {
  auto c = default_node().connect();
  const std::string st = "t_get_events";
  create_store(c, st);
  append(c, st, "s", make_events(250));
  auto q = [&](json extra) {
    json params{{"store", st}, {"stream", "s"}};
    if (!extra.is_null())
      params.update(extra);
    auto evs = ok(c, "get_events", params)["events"];
    std::vector<int64_t> nums;
    for (auto& e : evs)
      nums.push_back(e["event_number"].get<int64_t>());
    return nums;
  };
  auto range = [](int64_t from, int64_t to) { // inclusive, either direction
    std::vector<int64_t> out;
    for (auto i = from; from <= to ? i <= to : i >= to; i += from <= to ? 1 : -1)
      out.push_back(i);
    return out;
  };
  CHECK(q({}) == range(0, 99)); // count defaults to 100, start to 0
  CHECK(q({{"start", 200}}) == range(200, 249));
  CHECK(q({{"start", 10}, {"count", 3}}) == range(10, 12));
  CHECK(q({{"start", 250}}).empty());
  CHECK(q({{"start", 1000}}).empty());
  CHECK(q({{"count", 10000}}) == range(0, 249));
  CHECK(q({{"direction", "forward"}, {"count", 1}}) == range(0, 0));
  CHECK(q({{"direction", "backward"}}) == range(249, 150));
  CHECK(q({{"direction", "backward"}, {"count", 3}}) == range(249, 247));
  CHECK(q({{"direction", "backward"}, {"start", 1}, {"count", 5}})
        == range(1, 0));
  CHECK(q({{"direction", "backward"}, {"start", 0}}) == range(0, 0));
  CHECK(q({{"direction", "backward"}, {"start", 1000}, {"count", 2}})
        == range(249, 248));
  // Missing stream: empty, both directions.
  CHECK(ok(c, "get_events", {{"store", st}, {"stream", "nope"}})
        == json({{"events", json::array()}}));
  CHECK(ok(c, "get_events",
           {{"store", st}, {"stream", "nope"}, {"direction", "backward"}})
        == json({{"events", json::array()}}));
  auto base = json{{"store", st}, {"stream", "s"}};
  for (auto bad : {json(0), json(-1), json(10001), json("5"), json(1.5)}) {
    auto p = base;
    p["count"] = bad;
    expect_invalid(c, "get_events", p, "count");
  }
  for (auto bad : {json(-1), json("0"), json(2.5)}) {
    auto p = base;
    p["start"] = bad;
    expect_invalid(c, "get_events", p, "start");
  }
  for (auto bad : {json("sideways"), json(1), json("Forward")}) {
    auto p = base;
    p["direction"] = bad;
    expect_invalid(c, "get_events", p, "direction");
  }
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("get_version") {
  auto c = default_node().connect();
  const std::string st = "t_get_version";
  create_store(c, st);
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})
        == json({{"version", -1}}));
  append(c, st, "s", make_events(3));
  append(c, st, "other", make_events(5));
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})
        == json({{"version", 2}}));
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "other"}})
        == json({{"version", 4}}));
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("get_streams pages stream ids in byte order") {
  auto c = default_node().connect();
  const std::string st = "t_get_streams";
  create_store(c, st);
  CHECK(ok(c, "get_streams", {{"store", st}})
        == json({{"streams", json::array()}, {"next_after", nullptr}}));
  // Byte order: "B" < "a" < "a-1" < "aa" < "b" < "é" (0xC3 0xA9).
  for (auto s : {"b", "é", "a-1", "aa", "a", "B"})
    append(c, st, s, make_events(1));
  append(c, st, "a", make_events(2)); // more events, same stream
  auto all = json::array({"B", "a", "a-1", "aa", "b", "é"});
  CHECK(ok(c, "get_streams", {{"store", st}})
        == json({{"streams", all}, {"next_after", nullptr}}));
  auto p1 = ok(c, "get_streams", {{"store", st}, {"limit", 4}});
  CHECK(p1 == json({{"streams", {"B", "a", "a-1", "aa"}}, {"next_after", "aa"}}));
  auto p2 = ok(c, "get_streams", {{"store", st}, {"after", "aa"}, {"limit", 4}});
  CHECK(p2 == json({{"streams", {"b", "é"}}, {"next_after", nullptr}}));
  // A full last page: nothing more exists, so next_after is null.
  auto p3 = ok(c, "get_streams", {{"store", st}, {"after", "a-1"}, {"limit", 3}});
  CHECK(p3 == json({{"streams", {"aa", "b", "é"}}, {"next_after", nullptr}}));
  auto p4 = ok(c, "get_streams", {{"store", st}, {"after", "a-1"}, {"limit", 2}});
  CHECK(p4 == json({{"streams", {"aa", "b"}}, {"next_after", "b"}}));
  // after is exclusive and need not name an existing stream.
  auto p5 = ok(c, "get_streams", {{"store", st}, {"after", "a-0"}, {"limit", 1}});
  CHECK(p5 == json({{"streams", {"a-1"}}, {"next_after", "a-1"}}));
  CHECK(ok(c, "get_streams", {{"store", st}, {"after", "é"}})
        == json({{"streams", json::array()}, {"next_after", nullptr}}));
  CHECK(ok(c, "get_streams", {{"store", st}, {"limit", 10000}})["streams"]
        == all);
  for (auto bad : {json(0), json(-3), json(10001), json("2")})
    expect_invalid(c, "get_streams", {{"store", st}, {"limit", bad}}, "limit");
  expect_invalid(c, "get_streams", {{"store", st}, {"after", 5}}, "after");
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("read_all forward and backward with next_position") {
  auto c = default_node().connect();
  const std::string st = "t_read_all";
  create_store(c, st);
  auto q = [&](json extra) {
    json params{{"store", st}};
    if (!extra.is_null())
      params.update(extra);
    return ok(c, "read_all", params);
  };
  auto positions = [](const json& r) {
    std::vector<int64_t> out;
    for (auto& e : r["events"])
      out.push_back(e["position"].get<int64_t>());
    return out;
  };
  // Empty store.
  CHECK(q({}) == json({{"events", json::array()}, {"next_position", 0}}));
  CHECK(q({{"direction", "backward"}})
        == json({{"events", json::array()}, {"next_position", nullptr}}));
  // 130 events in three streams, interleaved.
  for (int i = 0; i < 13; ++i)
    append(c, st, "s" + std::to_string(i % 3), make_events(10, "E", i * 10));
  auto r = q({});
  CHECK(r["events"].size() == 100); // count defaults to 100
  CHECK(r["next_position"] == 100);
  auto ps = positions(r);
  for (size_t i = 0; i < ps.size(); ++i)
    CHECK(ps[i] == static_cast<int64_t>(i));
  // Events are in position order and each stream's numbers are gapless.
  std::map<std::string, int64_t> next_number;
  for (auto& e : r["events"]) {
    check_event_shape(e);
    auto s = e["stream_id"].get<std::string>();
    CHECK(e["event_number"] == next_number[s]);
    ++next_number[s];
  }
  r = q({{"from_position", 100}});
  CHECK(positions(r).size() == 30);
  CHECK(r["next_position"] == 130);
  r = q({{"from_position", 130}});
  CHECK(r == json({{"events", json::array()}, {"next_position", 130}}));
  r = q({{"from_position", 5000}});
  CHECK(r == json({{"events", json::array()}, {"next_position", 5000}}));
  r = q({{"from_position", 7}, {"count", 3}});
  CHECK(positions(r) == std::vector<int64_t>{7, 8, 9});
  CHECK(r["next_position"] == 10);
  // Backward: from the last position by default.
  r = q({{"direction", "backward"}, {"count", 3}});
  CHECK(positions(r) == std::vector<int64_t>{129, 128, 127});
  CHECK(r["next_position"] == 126);
  r = q({{"direction", "backward"}, {"from_position", 126}, {"count", 3}});
  CHECK(positions(r) == std::vector<int64_t>{126, 125, 124});
  CHECK(r["next_position"] == 123);
  r = q({{"direction", "backward"}, {"from_position", 2}, {"count", 3}});
  CHECK(positions(r) == std::vector<int64_t>{2, 1, 0});
  CHECK(r["next_position"].is_null());
  r = q({{"direction", "backward"}, {"from_position", 2}, {"count", 10}});
  CHECK(positions(r) == std::vector<int64_t>{2, 1, 0});
  CHECK(r["next_position"].is_null());
  r = q({{"direction", "backward"}});
  CHECK(positions(r).size() == 100);
  CHECK(r["next_position"] == 29);
  // Paging backward to the start visits every position once.
  std::vector<int64_t> seen;
  json cursor = nullptr;
  for (int guard = 0; guard < 100; ++guard) {
    json params{{"direction", "backward"}, {"count", 17}};
    if (!cursor.is_null())
      params["from_position"] = cursor;
    r = q(params);
    for (auto p : positions(r))
      seen.push_back(p);
    cursor = r["next_position"];
    if (cursor.is_null())
      break;
  }
  REQUIRE(seen.size() == 130);
  for (size_t i = 0; i < 130; ++i)
    CHECK(seen[i] == static_cast<int64_t>(129 - i));
  for (auto bad : {json(0), json(10001), json(-1), json("1")})
    expect_invalid(c, "read_all", {{"store", st}, {"count", bad}}, "count");
  for (auto bad : {json(-1), json("0"), json(1.5)})
    expect_invalid(c, "read_all", {{"store", st}, {"from_position", bad}},
                   "from_position");
  expect_invalid(c, "read_all", {{"store", st}, {"direction", "up"}},
                 "direction");
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

// -- snapshots ----------------------------------------------------------------

TEST_CASE("snapshots: record, read, replace, list, delete") {
  auto c = default_node().connect();
  const std::string st = "t_snapshots";
  create_store(c, st);
  auto rec = [&](std::string src, std::string stream, int version, json data,
                 json extra = json::object()) {
    json params{{"store", st},
                {"source_uuid", src},
                {"stream_uuid", stream},
                {"version", version},
                {"data", data}};
    params.update(extra);
    CHECK(ok(c, "record_snapshot", params) == json({{"recorded", true}}));
  };
  auto before = now_us();
  rec("src-b", "stream-1", 3, {{"total", 3}},
      {{"metadata", {{"m", 1}}}, {"source_type", "Order"}});
  rec("src-a", "stream-2", 10, {{"total", 10}});
  rec("src-a", "stream-1", 7, "seven");
  rec("src-a", "stream-1", 2, "two");
  rec("src-a", "stream-1", 0, "zero");

  auto read = [&](std::string src, std::string stream, json version) {
    json params{{"store", st}, {"source_uuid", src}, {"stream_uuid", stream}};
    if (!version.is_null())
      params["version"] = version;
    auto r = ok(c, "read_snapshot", params);
    REQUIRE(r.contains("snapshot"));
    return r["snapshot"];
  };
  auto s = read("src-b", "stream-1", 3);
  for (auto key : {"source_uuid", "stream_uuid", "version", "source_type",
                   "data", "metadata", "created", "created_epoch"})
    CHECK_MESSAGE(s.contains(key), "missing " << key << " in " << s.dump());
  CHECK(s["source_uuid"] == "src-b");
  CHECK(s["stream_uuid"] == "stream-1");
  CHECK(s["version"] == 3);
  CHECK(s["source_type"] == "Order");
  CHECK(s["data"] == json({{"total", 3}}));
  CHECK(s["metadata"] == json({{"m", 1}}));
  REQUIRE(s["created"].is_string());
  CHECK(parse_created(s["created"].get<std::string>())
        == s["created_epoch"].get<int64_t>());
  CHECK(s["created_epoch"].get<int64_t>() >= before - 2000000);
  // Without version: the highest.
  CHECK(read("src-a", "stream-1", nullptr)["version"] == 7);
  CHECK(read("src-a", "stream-1", nullptr)["data"] == "seven");
  CHECK(read("src-a", "stream-1", 0)["data"] == "zero");
  CHECK(read("src-a", "stream-1", 2)["metadata"].is_null());
  // Recording the same key replaces it.
  rec("src-a", "stream-1", 2, "two again", {{"metadata", "m2"}});
  CHECK(read("src-a", "stream-1", 2)["data"] == "two again");
  CHECK(read("src-a", "stream-1", 2)["metadata"] == "m2");

  auto keys = [](const json& r) {
    std::vector<std::string> out;
    for (auto& s : r["snapshots"])
      out.push_back(s["source_uuid"].get<std::string>() + "/"
                    + s["stream_uuid"].get<std::string>() + "/"
                    + std::to_string(s["version"].get<int>()));
    return out;
  };
  auto all = ok(c, "list_snapshots", {{"store", st}});
  CHECK(keys(all)
        == std::vector<std::string>{"src-a/stream-1/0", "src-a/stream-1/2",
                                    "src-a/stream-1/7", "src-a/stream-2/10",
                                    "src-b/stream-1/3"});
  CHECK(all["snapshots"][3]["data"] == json({{"total", 10}}));
  CHECK(keys(ok(c, "list_snapshots", {{"store", st}, {"source_uuid", "src-a"}}))
        == std::vector<std::string>{"src-a/stream-1/0", "src-a/stream-1/2",
                                    "src-a/stream-1/7", "src-a/stream-2/10"});
  CHECK(keys(ok(c, "list_snapshots", {{"store", st}, {"stream_uuid", "stream-1"}}))
        == std::vector<std::string>{"src-a/stream-1/0", "src-a/stream-1/2",
                                    "src-a/stream-1/7", "src-b/stream-1/3"});
  CHECK(keys(ok(c, "list_snapshots", {{"store", st},
                                      {"source_uuid", "src-b"},
                                      {"stream_uuid", "stream-1"}}))
        == std::vector<std::string>{"src-b/stream-1/3"});
  CHECK(ok(c, "list_snapshots", {{"store", st}, {"source_uuid", "zzz"}})
        == json({{"snapshots", json::array()}}));

  json key{{"store", st},
           {"source_uuid", "src-a"},
           {"stream_uuid", "stream-1"},
           {"version", 7}};
  CHECK(ok(c, "delete_snapshot", key) == json({{"deleted", true}}));
  expect_not_found(c, "delete_snapshot", key, "snapshot");
  expect_not_found(c, "read_snapshot", key, "snapshot");
  expect_alive(c);
  CHECK(read("src-a", "stream-1", nullptr)["version"] == 2);
  expect_not_found(c, "read_snapshot",
                   {{"store", st}, {"source_uuid", "nobody"}, {"stream_uuid", "x"}},
                   "snapshot");
  expect_not_found(c, "delete_snapshot",
                   {{"store", st},
                    {"source_uuid", "nobody"},
                    {"stream_uuid", "x"},
                    {"version", 0}},
                   "snapshot");
  // Snapshots of one store are invisible in another.
  CHECK(ok(c, "list_snapshots", {{"store", "default"}, {"source_uuid", "src-a"}})
        == json({{"snapshots", json::array()}}));
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("snapshot params are validated") {
  auto c = default_node().connect();
  const std::string st = "t_snap_valid";
  create_store(c, st);
  json good{{"store", st},
            {"source_uuid", "a"},
            {"stream_uuid", "b"},
            {"version", 1},
            {"data", 1}};
  auto with = [&](const char* key, json value) {
    auto p = good;
    if (value.is_discarded())
      p.erase(key);
    else
      p[key] = value;
    return p;
  };
  json drop(json::value_t::discarded);
  expect_invalid(c, "record_snapshot", with("source_uuid", ""), "source_uuid");
  expect_invalid(c, "record_snapshot", with("source_uuid", 5), "source_uuid");
  expect_invalid(c, "record_snapshot", with("source_uuid", drop), "source_uuid");
  expect_invalid(c, "record_snapshot", with("stream_uuid", ""), "stream_uuid");
  expect_invalid(c, "record_snapshot", with("stream_uuid", drop), "stream_uuid");
  expect_invalid(c, "record_snapshot", with("version", -1), "version");
  expect_invalid(c, "record_snapshot", with("version", "1"), "version");
  expect_invalid(c, "record_snapshot", with("version", 1.5), "version");
  expect_invalid(c, "record_snapshot", with("version", drop), "version");
  expect_invalid(c, "record_snapshot", with("data", drop), "data");
  expect_invalid(c, "record_snapshot", with("source_type", 3), "source_type");
  json key{{"store", st}, {"source_uuid", "a"}, {"stream_uuid", "b"}};
  expect_invalid(c, "read_snapshot", {{"store", st}, {"stream_uuid", "b"}},
                 "source_uuid");
  expect_invalid(c, "read_snapshot", {{"store", st}, {"source_uuid", "a"}},
                 "stream_uuid");
  auto k2 = key;
  k2["version"] = -5;
  expect_invalid(c, "read_snapshot", k2, "version");
  expect_invalid(c, "delete_snapshot", key, "version"); // version required
  expect_invalid(c, "delete_snapshot", k2, "version");
  expect_invalid(c, "list_snapshots", {{"store", st}, {"source_uuid", 1}},
                 "source_uuid");
  expect_alive(c);
  CHECK(ok(c, "list_snapshots", {{"store", st}})
        == json({{"snapshots", json::array()}}));
  ok(c, "remove_store", {{"store", st}});
}

// -- JSON-RPC framing and envelopes -------------------------------------------

TEST_CASE("invalid JSON and garbage bytes get parse_error; the connection lives") {
  auto c = default_node().connect();
  std::vector<std::string> bad{
    "{not json}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"",
    std::string("\x00\xff\xfe garbage \x01\x02", 14),
    "\xc3\x28",                                                   // bad UTF-8
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\",\"x\":\"\xff\"}",
    "[1,2",
    "}",
    "nul",
  };
  for (auto& line : bad) {
    CAPTURE(line);
    REQUIRE(c.send_raw(line + "\n"));
    auto resp = read_json(c);
    check_error(resp, "parse_error", line);
    CHECK(resp.contains("id"));
    CHECK(resp["id"].is_null());
    expect_alive(c);
  }
  // Several bad lines and a good one in one write.
  // Responses may come in any order.
  REQUIRE(c.send_raw("oops\n{{{\n{\"jsonrpc\":\"2.0\",\"id\":\"g\",\"method\":"
                     "\"health\"}\n"));
  int parse_errors = 0;
  for (int i = 0; i < 3; ++i) {
    auto msg = read_json(c);
    if (msg.is_object() && msg["id"] == "g") {
      CHECK(msg.contains("result"));
    } else {
      check_error(msg, "parse_error");
      ++parse_errors;
    }
  }
  CHECK(parse_errors == 2);
  // Random binary noise, with newlines in it.
  std::mt19937 rng{42};
  std::string noise;
  for (int i = 0; i < 3000; ++i)
    noise.push_back(static_cast<char>(rng() % 256));
  noise += "\n";
  REQUIRE(c.send_raw(noise));
  auto lines = std::count(noise.begin(), noise.end(), '\n');
  // Every line is answered with parse_error (or skipped if blank), then the
  // probe answers.
  send_probe(c, "after-noise");
  for (int i = 0; i <= lines; ++i) {
    auto msg = read_json(c);
    if (msg.is_object() && msg["id"] == "after-noise") {
      CHECK(msg.contains("result"));
      break;
    }
    check_error(msg, "parse_error");
  }
  expect_alive(c);
  // The node serves other connections.
  auto c2 = default_node().connect();
  expect_alive(c2);
}

TEST_CASE("invalid_request: not a JSON-RPC 2.0 request") {
  auto c = default_node().connect();
  auto check_invalid = [&](const std::string& line, json sent_id) {
    CAPTURE(line);
    REQUIRE(c.send_raw(line + "\n"));
    auto resp = read_json(c);
    check_error(resp, "invalid_request", line);
    REQUIRE(resp.contains("id"));
    // JSON-RPC 2.0: the id if it could be read, else null.
    CHECK((resp["id"].is_null() || resp["id"] == sent_id));
    expect_alive(c);
  };
  check_invalid("{\"id\":1,\"method\":\"health\"}", 1);
  check_invalid("{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"health\"}", 2);
  check_invalid("{\"jsonrpc\":2.0,\"id\":3,\"method\":\"health\"}", 3);
  check_invalid("{\"jsonrpc\":\"2.0\",\"id\":4}", 4);
  check_invalid("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":5}", 5);
  check_invalid("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":null}", 6);
  // An id that is neither number nor string nor null: answered with id null.
  for (auto id : {"{\"a\":1}", "[1]", "true"}) {
    auto line = std::string{"{\"jsonrpc\":\"2.0\",\"id\":"} + id
                + ",\"method\":\"health\"}";
    CAPTURE(line);
    REQUIRE(c.send_raw(line + "\n"));
    auto resp = read_json(c);
    check_error(resp, "invalid_request", line);
    CHECK(resp["id"].is_null());
  }
  // JSON that is not an object (nor an array).
  for (auto line : {"42", "\"health\"", "null", "true"}) {
    CAPTURE(line);
    REQUIRE(c.send_raw(std::string{line} + "\n"));
    auto resp = read_json(c);
    check_error(resp, "invalid_request", line);
    CHECK(resp["id"].is_null());
  }
  expect_alive(c);
}

TEST_CASE("ids: numbers and strings are echoed, null is answered") {
  auto c = default_node().connect();
  for (auto id : {json(0), json(-7), json(9007199254740991LL), json("abc"),
                  json(""), json("ü-1")}) {
    CAPTURE(id.dump());
    json req{{"jsonrpc", "2.0"}, {"id", id}, {"method", "health"}};
    REQUIRE(c.send(req));
    auto resp = read_json(c);
    CHECK(resp["id"] == id);
    CHECK(resp.contains("result"));
  }
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"health\"}\n"));
  auto resp = read_json(c);
  CHECK(resp.contains("id"));
  CHECK(resp["id"].is_null());
  expect_alive(c);
}

TEST_CASE("unknown methods are method_not_found") {
  auto c = default_node().connect();
  for (auto m : {"no_such_method", "HEALTH", "", "rpc.discover"}) {
    CAPTURE(m);
    auto resp = rpc(c, m);
    check_error(resp, "method_not_found", m);
    expect_alive(c);
  }
}

TEST_CASE("notifications are executed and never answered") {
  auto c = default_node().connect();
  const std::string st = "t_notify";
  create_store(c, st);
  // A notification that writes.
  json note{{"jsonrpc", "2.0"},
            {"method", "append_events"},
            {"params", append_params(st, "n", make_events(2))}};
  REQUIRE(c.send(note));
  // Notifications that fail: still no answer.
  REQUIRE(c.send({{"jsonrpc", "2.0"}, {"method", "no_such_method"}}));
  REQUIRE(c.send({{"jsonrpc", "2.0"},
                  {"method", "append_events"},
                  {"params", append_params(st, "n", make_events(1), 99)}}));
  REQUIRE(c.send({{"jsonrpc", "2.0"},
                  {"method", "get_version"},
                  {"params", {{"store", "A"}, {"stream", "n"}}}}));
  auto id = send_probe(c, "probe-1");
  expect_next_is_probe(c, id);
  // The write took effect (the node handles one connection's requests ...
  // in any order, so wait for it a little).
  json v;
  for (int i = 0; i < 100; ++i) {
    v = ok(c, "get_version", {{"store", st}, {"stream", "n"}});
    if (v["version"] == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  CHECK(v["version"] == 1);
  CHECK(!c.read_message(300).has_value()); // nothing else arrives
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("batch requests") {
  auto c = default_node().connect();
  const std::string st = "t_batch";
  create_store(c, st);
  SUBCASE("answered with an array, one response per request with an id") {
    json batch = json::array(
      {{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "health"}},
       {{"jsonrpc", "2.0"},
        {"id", "two"},
        {"method", "append_events"},
        {"params", append_params(st, "b", make_events(3))}},
       {{"jsonrpc", "2.0"}, {"method", "health"}}, // notification
       {{"jsonrpc", "2.0"}, {"id", 3}, {"method", "no_such_method"}},
       {{"jsonrpc", "2.0"},
        {"id", 4},
        {"method", "get_version"},
        {"params", {{"store", "A"}, {"stream", "b"}}}},
       {{"jsonrpc", "2.0"}, {"id", 5}}, // invalid request
       json(17)});                      // invalid request, id null
    REQUIRE(c.send(batch));
    auto resp = read_json(c);
    INFO("response: " << brief(resp, 3000));
    REQUIRE(resp.is_array());
    CHECK(resp.size() == 6);
    std::map<std::string, json> by_id;
    int nulls = 0;
    for (auto& r : resp) {
      REQUIRE(r.is_object());
      if (r["id"].is_null()) {
        ++nulls;
        check_error(r, "invalid_request");
      } else {
        by_id[r["id"].dump()] = r;
      }
    }
    CHECK(result_of(by_id["1"])["status"] == "ok");
    CHECK(result_of(by_id["\"two\""]) == json({{"version", 2}, {"position", 2}}));
    check_error(by_id["3"], "method_not_found");
    CHECK(check_error(by_id["4"], "invalid_params")["field"] == "store");
    // id 5 may be echoed or null.
    if (by_id.count("5"))
      check_error(by_id["5"], "invalid_request");
    CHECK(nulls + static_cast<int>(by_id.size()) == 6);
    expect_alive(c);
  }
  SUBCASE("an empty batch is one invalid_request error") {
    REQUIRE(c.send_raw("[]\n"));
    auto resp = read_json(c);
    INFO("response: " << brief(resp, 3000));
    REQUIRE(resp.is_object());
    check_error(resp, "invalid_request");
    CHECK(resp["id"].is_null());
    expect_alive(c);
  }
  SUBCASE("a batch of notifications gets no response at all") {
    json batch = json::array();
    for (int i = 0; i < 3; ++i)
      batch.push_back({{"jsonrpc", "2.0"},
                       {"method", "append_events"},
                       {"params", append_params(st, "quiet", make_events(1))}});
    batch.push_back({{"jsonrpc", "2.0"}, {"method", "no_such_method"}});
    REQUIRE(c.send(batch));
    expect_next_is_probe(c, send_probe(c, "after-batch"));
    json v;
    for (int i = 0; i < 100; ++i) {
      v = ok(c, "get_version", {{"store", st}, {"stream", "quiet"}});
      if (v["version"] == 2)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    CHECK(v["version"] == 2);
  }
  SUBCASE("1000 requests are accepted, 1001 are one too_large error") {
    json batch = json::array();
    for (int i = 0; i < 1000; ++i)
      batch.push_back({{"jsonrpc", "2.0"},
                       {"id", i},
                       {"method", "get_version"},
                       {"params", {{"store", st}, {"stream", "x"}}}});
    REQUIRE(c.send(batch));
    auto resp = read_json(c);
    REQUIRE(resp.is_array());
    CHECK(resp.size() == 1000);
    std::set<int> ids;
    for (auto& r : resp) {
      ids.insert(r["id"].get<int>());
      CHECK(r["result"] == json({{"version", -1}}));
    }
    CHECK(ids.size() == 1000);
    // 1001: nothing is executed, one error for the whole batch.
    batch.push_back({{"jsonrpc", "2.0"},
                     {"id", 1000},
                     {"method", "append_events"},
                     {"params", append_params(st, "over", make_events(1))}});
    REQUIRE(c.send(batch));
    resp = read_json(c);
    INFO("response: " << brief(resp));
    REQUIRE(resp.is_object());
    CHECK(check_error(resp, "too_large")["limit"] == 1000);
    CHECK(resp["id"].is_null());
    expect_alive(c);
    CHECK(ok(c, "get_version", {{"store", st}, {"stream", "over"}})["version"]
          == -1);
  }
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("--max-batch-requests sets the batch limit") {
  auto c = small_node().connect();
  auto make_batch = [](int n) {
    json batch = json::array();
    for (int i = 0; i < n; ++i)
      batch.push_back({{"jsonrpc", "2.0"}, {"id", i}, {"method", "health"}});
    return batch;
  };
  REQUIRE(c.send(make_batch(5)));
  auto resp = read_json(c);
  REQUIRE(resp.is_array());
  CHECK(resp.size() == 5);
  REQUIRE(c.send(make_batch(6)));
  resp = read_json(c);
  REQUIRE(resp.is_object());
  CHECK(check_error(resp, "too_large")["limit"] == 5);
  CHECK(resp["id"].is_null());
  expect_alive(c);
}

TEST_CASE("pipelined requests are all answered, correlated by id") {
  auto c = default_node().connect();
  const std::string st = "t_pipeline";
  create_store(c, st);
  // 300 requests in one write: appends to 10 streams with explicit expected
  // versions (so their order per stream matters only through their results),
  // reads, and errors.
  std::string wire;
  std::map<std::string, std::string> kind;
  for (int i = 0; i < 300; ++i) {
    auto id = "p" + std::to_string(i);
    json req{{"jsonrpc", "2.0"}, {"id", id}};
    switch (i % 4) {
      case 0:
        req["method"] = "append_events";
        req["params"] = append_params(st, "s" + std::to_string(i % 10),
                                      make_events(2));
        kind[id] = "append";
        break;
      case 1:
        req["method"] = "health";
        kind[id] = "health";
        break;
      case 2:
        req["method"] = "get_version";
        req["params"] = {{"store", st}, {"stream", "s0"}};
        kind[id] = "version";
        break;
      default:
        req["method"] = "nope";
        kind[id] = "nope";
    }
    wire += req.dump() + "\n";
  }
  REQUIRE(c.send_raw(wire));
  std::set<int64_t> last_positions;
  std::map<std::string, json> got;
  for (int i = 0; i < 300; ++i) {
    auto resp = read_json(c);
    REQUIRE(resp.is_object());
    REQUIRE(resp["id"].is_string());
    auto id = resp["id"].get<std::string>();
    CHECK_MESSAGE(got.count(id) == 0, "two answers for " << id);
    got[id] = resp;
  }
  CHECK(got.size() == 300);
  for (auto& [id, resp] : got) {
    CAPTURE(resp.dump());
    auto& k = kind[id];
    if (k == "append") {
      auto r = result_of(resp);
      last_positions.insert(r["position"].get<int64_t>());
    } else if (k == "health") {
      CHECK(result_of(resp)["status"] == "ok");
    } else if (k == "version") {
      CHECK(result_of(resp)["version"].is_number_integer());
    } else {
      check_error(resp, "method_not_found");
    }
  }
  // 75 appends of 2 events: last positions are 1, 3, ..., 149 in some order.
  CHECK(last_positions.size() == 75);
  if (!last_positions.empty()) {
    CHECK(*last_positions.begin() == 1);
    CHECK(*last_positions.rbegin() == 149);
  }
  auto all = read_all_events(c, st);
  CHECK(all.size() == 150);
  for (int s = 0; s < 10; ++s) {
    auto evs = stream_events(c, st, "s" + std::to_string(s));
    CHECK(evs.size() == (s % 2 == 0 ? 30 : 0)); // i % 4 == 0 hits even s only
  }
  CHECK(!c.read_message(200).has_value());
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("CRLF endings and messages split across writes") {
  auto c = default_node().connect();
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":\"crlf\",\"method\":\"health\"}\r\n"));
  auto resp = read_json(c);
  CHECK(resp["id"] == "crlf");
  CHECK(resp.contains("result"));
  std::string msg = "{\"jsonrpc\":\"2.0\",\"id\":\"split\",\"method\":\"health\"}\n";
  for (char ch : msg) {
    REQUIRE(c.send_raw(std::string(1, ch)));
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  resp = read_json(c);
  CHECK(resp["id"] == "split");
  CHECK(resp.contains("result"));
  // Empty and blank lines are ignored (docs/protocol.md).
  REQUIRE(c.send_raw("\n   \n\r\n"));
  expect_next_is_probe(c, send_probe(c, "after-blank"));
  // A multi-byte UTF-8 character split across writes, and \u escapes: the
  // same stream id either way.
  std::string utf8 = "{\"jsonrpc\":\"2.0\",\"id\":\"u8\",\"method\":"
                     "\"append_events\",\"params\":{\"stream\":\"split-\xc3\xa9\","
                     "\"events\":[{\"event_type\":\"E\",\"data\":1}]}}\n";
  auto cut = utf8.find("\xa9");
  REQUIRE(c.send_raw(utf8.substr(0, cut)));
  std::this_thread::sleep_for(std::chrono::milliseconds{20});
  REQUIRE(c.send_raw(utf8.substr(cut)));
  resp = read_json(c);
  CHECK(resp["id"] == "u8");
  CHECK(resp.contains("result"));
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":\"esc\",\"method\":"
                     "\"get_events\",\"params\":{\"stream\":\"split-\\u00e9\"}}\n"));
  resp = read_json(c);
  CHECK(resp["id"] == "esc");
  REQUIRE(resp.contains("result"));
  REQUIRE(resp["result"]["events"].size() >= 1);
  CHECK(resp["result"]["events"][0]["stream_id"] == "split-\xc3\xa9");
  // Two messages and a half in one write, the rest later.
  REQUIRE(c.send_raw("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"health\"}\n"
                     "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"health\"}\n"
                     "{\"jsonrpc\":\"2.0\",\"id\":\"c\","));
  std::set<std::string> ids;
  ids.insert(read_json(c)["id"].get<std::string>());
  ids.insert(read_json(c)["id"].get<std::string>());
  CHECK(ids == std::set<std::string>{"a", "b"});
  CHECK(!c.read_message(200).has_value());
  REQUIRE(c.send_raw("\"method\":\"health\"}\n"));
  CHECK(read_json(c)["id"] == "c");
  expect_alive(c);
}

TEST_CASE("a message over --max-message-bytes is too_large and skipped") {
  auto& node = small_node(); // --max-message-bytes 4096
  auto c = node.connect();
  auto big_request = [](size_t bytes, const std::string& id) {
    json req{{"jsonrpc", "2.0"},
             {"id", id},
             {"method", "append_events"},
             {"params",
              {{"stream", "big"},
               {"events", json::array({{{"event_type", "Big"}, {"data", ""}}})}}}};
    auto base = req.dump().size();
    req["params"]["events"][0]["data"] = std::string(bytes - base, 'x');
    auto line = req.dump();
    REQUIRE(line.size() == bytes);
    return line;
  };
  auto before = ok(c, "get_version", {{"stream", "big"}})["version"];
  // Well under the limit: fine (the event itself is under 2048 bytes).
  auto small = big_request(1500, "small");
  REQUIRE(c.send_raw(small + "\n"));
  auto resp = read_json(c);
  CHECK(resp["id"] == "small");
  CHECK(resp.contains("result"));
  // Exactly the limit is served; one byte more is not.
  // (It is answered as a request: its event is over --max-event-bytes.)
  REQUIRE(c.send_raw(big_request(4096, "exact") + "\n"));
  resp = read_json(c);
  CHECK(resp["id"] == "exact");
  CHECK(check_error(resp, "too_large")["limit"] == 2048);
  REQUIRE(c.send_raw(big_request(4097, "over") + "\n"));
  resp = read_json(c);
  CHECK(check_error(resp, "too_large")["limit"] == 4096);
  CHECK(resp["id"].is_null());
  expect_alive(c);
  // Over the limit: too_large with id null and the limit.
  for (size_t size : {5000u, 100000u}) {
    CAPTURE(size);
    REQUIRE(c.send_raw(big_request(size, "huge") + "\n"));
    resp = read_json(c);
    CHECK(check_error(resp, "too_large")["limit"] == 4096);
    CHECK(resp["id"].is_null());
    expect_alive(c);
  }
  // Over the limit in pieces, with a valid request right behind it in the
  // same write: the rest of the long line is skipped, the next one served.
  auto huge = big_request(20000, "huge2");
  REQUIRE(c.send_raw(huge.substr(0, 3000)));
  std::this_thread::sleep_for(std::chrono::milliseconds{50});
  REQUIRE(c.send_raw(huge.substr(3000, 9000)));
  std::this_thread::sleep_for(std::chrono::milliseconds{50});
  REQUIRE(c.send_raw(huge.substr(12000) + "\n"
                     + "{\"jsonrpc\":\"2.0\",\"id\":\"next\",\"method\":\"health\"}\n"));
  for (int i = 0; i < 2; ++i) { // in any order
    resp = read_json(c);
    if (resp.is_object() && resp["id"] == "next") {
      CHECK(resp.contains("result"));
    } else {
      CHECK(check_error(resp, "too_large")["limit"] == 4096);
      CHECK(resp["id"].is_null());
    }
  }
  // Garbage over the limit is too_large, too (not a parse_error per chunk).
  REQUIRE(c.send_raw(std::string(10000, '#') + "\n"));
  resp = read_json(c);
  check_error(resp, "too_large");
  CHECK(!c.read_message(300).has_value()); // exactly one answer
  expect_alive(c);
  // None of the oversized appends was executed.
  CHECK(ok(c, "get_version", {{"stream", "big"}})["version"]
        == before.get<int>() + 1);
}

TEST_CASE("an event over --max-event-bytes is too_large") {
  auto c = small_node().connect(); // --max-event-bytes 2048
  auto stream = "ev-" + uuid4();
  auto d = err(c, "append_events",
               {{"stream", stream},
                {"events", json::array({make_event("Small", "ok"),
                                        make_event("Big", std::string(3000, 'x'))})}},
               "too_large");
  CHECK(d["limit"] == 2048);
  expect_alive(c);
  CHECK(ok(c, "get_version", {{"stream", stream}})["version"] == -1);
  // Big metadata counts too.
  auto e = make_event("BigMeta", 1);
  e["metadata"] = std::string(2500, 'm');
  d = err(c, "append_events",
          {{"stream", stream}, {"events", json::array({e})}}, "too_large");
  CHECK(d["limit"] == 2048);
  // Under the limit: written.
  auto r = append(c, "default", stream,
                  json::array({make_event("Fine", std::string(1000, 'x'))}));
  CHECK(r["version"] == 0);
  expect_alive(c);
}

TEST_CASE("many connections at once") {
  auto& node = default_node();
  auto c = node.connect();
  const std::string st = "t_conns";
  create_store(c, st);
  constexpr int clients = 16;
  constexpr int appends = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto cc = node.connect();
        for (int i = 0; i < appends; ++i) {
          auto r = cc.call("append_events",
                           append_params(st, "c" + std::to_string(t),
                                         make_events(1), i - 1),
                           rpc_timeout_ms);
          if (!r || !r->contains("result") || (*r)["result"]["version"] != i)
            ++failures;
        }
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(failures == 0);
  auto all = read_all_events(c, st);
  CHECK(all.size() == clients * appends);
  for (size_t i = 0; i < all.size(); ++i)
    CHECK(all[i]["position"] == i);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("a connection closed with requests in flight does not hurt the node") {
  auto& node = default_node();
  const std::string st = "t_abandon";
  {
    auto c = node.connect();
    create_store(c, st);
  }
  for (int round = 0; round < 5; ++round) {
    auto c = node.connect();
    auto wire = append_lines(st, "s", 50);
    wire += "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"hea"; // half a line
    REQUIRE(c.send_raw(wire));
    c.close();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  auto c = node.connect();
  expect_alive(c);
  // Whatever was executed is whole and gapless.
  auto evs = read_all_events(c, st);
  CHECK(evs.size() <= 250);
  for (size_t i = 0; i < evs.size(); ++i) {
    CHECK(evs[i]["position"] == i);
    CHECK(evs[i]["event_number"] == i);
  }
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"]
        == static_cast<int64_t>(evs.size()) - 1);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("integers beyond int64 are never misread") {
  auto c = default_node().connect();
  const std::string st = "t_big_ints";
  create_store(c, st);
  // 2^64-1 must not wrap around to -1 (which would mean "no_stream" or
  // "from the end").
  json huge = json::parse("18446744073709551615");
  REQUIRE(huge.is_number_unsigned());
  auto resp = rpc(c, "append_events",
                  append_params(st, "s", make_events(1), huge));
  CHECK(!resp.contains("result"));
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"] == -1);
  append(c, st, "s", make_events(3));
  for (auto field : {"start", "count"}) {
    CAPTURE(field);
    auto r = rpc(c, "get_events", {{"store", st}, {"stream", "s"}, {field, huge}});
    if (r.contains("result"))
      CHECK(r["result"]["events"].empty());
    else
      CHECK(check_error(r, "invalid_params")["field"] == field);
  }
  auto r = rpc(c, "read_all", {{"store", st}, {"from_position", huge}});
  if (r.contains("result"))
    CHECK(r["result"]["events"].empty());
  else
    CHECK(check_error(r, "invalid_params")["field"] == "from_position");
  expect_invalid(c, "read_all", {{"store", st}, {"count", huge}}, "count");
  expect_invalid(c, "get_streams", {{"store", st}, {"limit", huge}}, "limit");
  // The largest int64 is a valid (if far) position or version.
  json max64 = std::numeric_limits<int64_t>::max();
  CHECK(ok(c, "read_all", {{"store", st}, {"from_position", max64}})["events"]
          .empty());
  auto back = ok(c, "read_all", {{"store", st},
                                 {"from_position", max64},
                                 {"direction", "backward"}});
  CHECK(back["events"].size() == 3);
  auto d = err(c, "append_events", append_params(st, "s", make_events(1), max64),
               "wrong_expected_version");
  CHECK(d["current_version"] == 2);
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

// It runs on a node of its own so that, should it crash, the other cases go
// on. The node refuses nesting deeper than 256 levels before parsing.
TEST_CASE("deeply nested JSON does not crash the node") {
  node_process node;
  auto c = node.connect();
  const std::string st = "t_deep";
  create_store(c, st);
  // 100000 levels: 200 KB, under every default limit.
  const int depth = 100000;
  auto deep = std::string(depth, '[') + std::string(depth, ']');
  auto prefix = std::string{"{\"jsonrpc\":\"2.0\",\"id\":\"deep\",\"method\":"};
  std::vector<std::string> requests{
    prefix + "\"append_events\",\"params\":{\"store\":\"" + st
      + "\",\"stream\":\"d\",\"events\":[{\"event_type\":\"E\",\"data\":" + deep
      + "}]}}",
    prefix + "\"append_events\",\"params\":{\"store\":\"" + st
      + "\",\"stream\":\"d\",\"events\":[{\"event_type\":\"E\",\"data\":1,"
        "\"metadata\":"
      + deep + "}]}}",
    prefix + "\"record_snapshot\",\"params\":{\"store\":\"" + st
      + "\",\"source_uuid\":\"a\",\"stream_uuid\":\"b\",\"version\":1,"
        "\"data\":"
      + deep + "}}",
    prefix + "\"health\",\"params\":{\"x\":" + deep + "}}",
    prefix + "\"health\",\"params\":" + deep + "}",
    deep,
  };
  for (auto& req : requests) {
    CAPTURE(req.substr(0, 120));
    REQUIRE(c.send_raw(req + "\n"));
    auto line = c.read_line(rpc_timeout_ms);
    if (!line) // let a crashed node be reaped before it is reported
      std::this_thread::sleep_for(std::chrono::milliseconds{300});
    REQUIRE_MESSAGE(line.has_value(),
                    "no answer; node running: "
                      << node.running() << ", exit status "
                      << node.last_exit_status().value_or(-1));
    auto resp = json::parse(*line, nullptr, false);
    REQUIRE(!resp.is_discarded());
    // Accepted, or rejected with a reason; never a dead node.
    if (resp.is_object() && resp.contains("error")) {
      auto reason = resp["error"]["data"].value("reason", "");
      CHECK((reason == "invalid_params" || reason == "too_large"
             || reason == "invalid_request" || reason == "parse_error"));
    }
    expect_alive(c);
  }
  // What was stored reads back.
  auto got = rpc(c, "get_events", {{"store", st}, {"stream", "d"}});
  CHECK(got.contains("result"));
  auto snap = rpc(c, "list_snapshots", {{"store", st}});
  CHECK(snap.contains("result"));
  expect_alive(c);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("large messages and events under the default limits") {
  auto c = default_node().connect();
  const std::string st = "t_large";
  create_store(c, st);
  // A 2.4 MB message of four 600 KB events.
  auto events = json::array();
  for (int i = 0; i < 4; ++i)
    events.push_back(make_event("Big", std::string(600000, 'a' + i)));
  CHECK(append(c, st, "big", events) == json({{"version", 3}, {"position", 3}}));
  auto got = ok(c, "get_events", {{"store", st}, {"stream", "big"}});
  REQUIRE(got["events"].size() == 4);
  for (int i = 0; i < 4; ++i)
    CHECK(got["events"][i]["data"] == std::string(600000, 'a' + i));
  // One event over 1 MiB.
  auto d = err(c, "append_events",
               append_params(st, "big",
                             json::array({make_event("Huge",
                                                     std::string(1100000, 'z'))})),
               "too_large");
  CHECK(d["limit"] == 1048576);
  expect_alive(c);
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "big"}})["version"] == 3);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("20000 pipelined requests with the client reading concurrently") {
  auto c = default_node().connect();
  constexpr int n = 20000;
  std::string wire;
  for (int i = 0; i < n; ++i)
    wire += "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(i)
            + ",\"method\":\"health\"}\n";
  // The sender only writes and the reader only reads the socket.
  std::atomic<bool> sent{false};
  std::thread sender{[&] { sent = c.send_raw(wire); }};
  std::vector<char> seen(n, 0);
  int answered = 0;
  for (; answered < n; ++answered) {
    auto line = c.read_line(rpc_timeout_ms);
    if (!line)
      break;
    auto resp = json::parse(*line, nullptr, false);
    if (!resp.is_object() || !resp["id"].is_number_integer())
      break;
    auto id = resp["id"].get<int>();
    if (id < 0 || id >= n || seen[id])
      break;
    seen[id] = 1;
  }
  sender.join();
  CHECK(sent);
  CHECK(answered == n);
  expect_alive(c);
}

TEST_CASE("reads on other connections see every acknowledged append") {
  auto& node = default_node();
  auto writer = node.connect();
  auto reader = node.connect();
  const std::string st = "t_linear";
  create_store(writer, st);
  for (int i = 0; i < 50; ++i) {
    auto r = append(writer, st, "s", make_events(1), i - 1);
    REQUIRE(r["version"] == i);
    CHECK(ok(reader, "get_version", {{"store", st}, {"stream", "s"}})["version"]
          == i);
    auto back = ok(reader, "read_all", {{"store", st}, {"direction", "backward"},
                                        {"count", 1}});
    REQUIRE(back["events"].size() == 1);
    CHECK(back["events"][0]["position"] == r["position"]);
  }
  ok(writer, "remove_store", {{"store", st}});
}

TEST_CASE("concurrent appends with one expected_version: exactly one wins") {
  auto& node = default_node();
  auto c = node.connect();
  const std::string st = "t_race";
  create_store(c, st);
  constexpr int writers = 6;
  std::vector<json_client> clients;
  for (int i = 0; i < writers; ++i)
    clients.push_back(node.connect());
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    std::vector<json> results(writers);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
      threads.emplace_back([&, w] {
        auto r = clients[w].call("append_events",
                                 append_params(st, "s", make_events(2),
                                               2 * round - 1),
                                 rpc_timeout_ms);
        results[w] = r ? *r : json{};
      });
    for (auto& t : threads)
      t.join();
    int wins = 0;
    for (auto& r : results) {
      INFO("response: " << brief(r));
      REQUIRE(r.is_object());
      if (r.contains("result")) {
        ++wins;
        CHECK(r["result"]["version"] == 2 * round + 1);
      } else {
        auto d = check_error(r, "wrong_expected_version");
        CHECK(d["current_version"] == 2 * round + 1);
      }
    }
    CHECK(wins == 1);
  }
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"] == 19);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("concurrent create_store of one id: exactly one succeeds") {
  auto& node = default_node();
  constexpr int n = 6;
  std::vector<json_client> clients;
  for (int i = 0; i < n; ++i)
    clients.push_back(node.connect());
  for (int round = 0; round < 3; ++round) {
    auto store = "t_same_" + std::to_string(round);
    std::vector<json> results(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        auto r = clients[i].call("create_store", {{"store", store}},
                                 rpc_timeout_ms);
        results[i] = r ? *r : json{};
      });
    for (auto& t : threads)
      t.join();
    int created = 0;
    for (auto& r : results) {
      INFO("response: " << brief(r));
      REQUIRE(r.is_object());
      if (r.contains("result"))
        ++created;
      else
        check_error(r, "already_exists");
    }
    CHECK(created == 1);
    ok(clients[0], "remove_store", {{"store", store}});
  }
}

TEST_CASE("appends racing with remove_store get prompt, definite answers") {
  auto& node = default_node();
  auto c = node.connect();
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const std::string st = "t_removed";
    create_store(c, st);
    std::atomic<bool> stop{false};
    std::vector<std::string> bad;
    std::mutex bad_mtx;
    std::thread appender{[&] {
      auto a = node.connect();
      while (!stop) {
        auto started = std::chrono::steady_clock::now();
        auto r = a.call("append_events", append_params(st, "s", make_events(1)),
                        rpc_timeout_ms);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
        std::string reason = "ok";
        if (!r)
          reason = "no answer";
        else if (r->contains("error"))
          reason = (*r)["error"]["data"].value("reason", "?");
        // Written, or the store is gone (not_found) or going (unavailable).
        bool fine = reason == "ok" || reason == "not_found"
                    || reason == "unavailable";
        if (!fine || ms > 3000) {
          std::lock_guard<std::mutex> guard{bad_mtx};
          bad.push_back(reason + " after " + std::to_string(ms) + " ms");
        }
      }
    }};
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    CHECK(ok(c, "remove_store", {{"store", st}}) == json({{"removed", true}}));
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    stop = true;
    appender.join();
    for (auto& b : bad)
      FAIL_CHECK("append during remove_store: " << b);
    expect_not_found(c, "append_events", append_params(st, "s", make_events(1)),
                     "store");
  }
  expect_alive(c);
}

TEST_CASE("readers never see gaps while writers append") {
  auto& node = default_node();
  auto c = node.connect();
  const std::string st = "t_no_gaps";
  create_store(c, st);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::mutex msg_mtx;
  std::vector<std::string> problems;
  auto problem = [&](std::string text) {
    std::lock_guard<std::mutex> guard{msg_mtx};
    if (problems.size() < 10)
      problems.push_back(std::move(text));
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w)
    threads.emplace_back([&, w] {
      auto a = node.connect();
      for (int i = 0; !stop; ++i) {
        auto r = a.call("append_events",
                        append_params(st, "w" + std::to_string(w),
                                      make_events(3), 3 * i - 1),
                        rpc_timeout_ms);
        if (!r || !r->contains("result")) {
          ++failures;
          problem("append: " + (r ? brief(*r) : std::string{"no answer"}));
          return;
        }
      }
    });
  for (int rd = 0; rd < 2; ++rd)
    threads.emplace_back([&] {
      auto a = node.connect();
      int64_t last_seen = -1;
      while (!stop) {
        auto r = a.call("read_all",
                        {{"store", st}, {"direction", "backward"}, {"count", 60}},
                        rpc_timeout_ms);
        if (!r || !r->contains("result")) {
          problem("read_all: " + (r ? brief(*r) : std::string{"no answer"}));
          return;
        }
        auto& evs = (*r)["result"]["events"];
        if (evs.empty())
          continue;
        auto top = evs[0]["position"].get<int64_t>();
        if (top < last_seen)
          problem("read_all went back from " + std::to_string(last_seen)
                  + " to " + std::to_string(top));
        last_seen = top;
        for (size_t i = 0; i < evs.size(); ++i)
          if (evs[i]["position"] != top - static_cast<int64_t>(i))
            problem("gap in read_all below " + std::to_string(top));
        // The stream is at least as far as read_all says.
        auto stream = evs[0]["stream_id"].get<std::string>();
        auto v = a.call("get_version", {{"store", st}, {"stream", stream}},
                        rpc_timeout_ms);
        if (!v || !v->contains("result")
            || (*v)["result"]["version"].get<int64_t>()
                 < evs[0]["event_number"].get<int64_t>())
          problem("get_version behind read_all for " + stream);
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds{2500});
  stop = true;
  for (auto& t : threads)
    t.join();
  for (auto& p : problems)
    FAIL_CHECK(p);
  CHECK(failures == 0);
  // Every stream's numbers are gapless and batches are whole.
  for (int w = 0; w < 3; ++w) {
    auto evs = stream_events(c, st, "w" + std::to_string(w));
    CHECK(evs.size() % 3 == 0);
    for (size_t i = 0; i < evs.size(); ++i)
      CHECK(evs[i]["event_number"] == i);
  }
  ok(c, "remove_store", {{"store", st}});
}

// -- half-close and connection limits -----------------------------------------

namespace {

/// A plain TCP connection to `port` on 127.0.0.1 (no client library), for
/// tests that shut down one side of it.
int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return fd;
}

/// Reads until the node closes its side or `timeout` passes; `closed` tells
/// which.
std::string read_until_closed(int fd, std::chrono::milliseconds timeout,
                              bool& closed) {
  std::string got;
  closed = false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      return got;
    char buf[65536];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed = true;
      return got;
    }
    got.append(buf, static_cast<size_t>(n));
  }
}

/// The ids of the successful answers among NDJSON `lines`.
std::multiset<int> result_ids(const std::string& lines) {
  std::multiset<int> ids;
  size_t start = 0;
  for (auto pos = lines.find('\n'); pos != std::string::npos;
       start = pos + 1, pos = lines.find('\n', start)) {
    auto resp = json::parse(lines.substr(start, pos - start), nullptr, false);
    if (resp.is_object() && resp.contains("result") && resp["id"].is_number())
      ids.insert(resp["id"].get<int>());
  }
  return ids;
}

/// A node with small connection limits: few connections, few messages in
/// work and little unread output per connection (the least the flags take).
node_process& tight_node() {
  static std::unique_ptr<node_process> node;
  if (!node) {
    node_options opts;
    opts.node_name = "tight";
    opts.extra_args = {"--max-connections", "3",
                       "--max-inflight-per-connection", "4",
                       "--max-output-bytes", "4096",
                       "--max-subscriber-buffer-bytes", "4096"};
    node = std::make_unique<node_process>(opts);
  } else if (!node->running()) {
    FAIL_CHECK("the tight node died; log tail:\n" << node->log_tail());
    node->start();
  }
  return *node;
}

} // namespace

// As `printf '...\n' | nc -N 127.0.0.1 7411` does: the client sends its
// requests, shuts down its sending side at once and reads. The node stops
// reading, writes every answer still due, then closes.
TEST_CASE("a client that half-closes after its requests gets every answer") {
  auto& node = default_node();
  const std::string st = "t_half_close";
  {
    auto c = node.connect();
    create_store(c, st);
  }
  int fd = raw_connect(node.port());
  auto wire = append_lines(st, "s", 3);
  wire += "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"health\"}\n";
  REQUIRE(::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL)
          == static_cast<ssize_t>(wire.size()));
  REQUIRE(::shutdown(fd, SHUT_WR) == 0);
  bool closed = false;
  auto got = read_until_closed(fd, std::chrono::seconds{10}, closed);
  ::close(fd);
  INFO("received: " << got);
  CHECK(closed);
  CHECK(result_ids(got) == std::multiset<int>{0, 1, 2, 3});
  auto c = node.connect();
  CHECK(ok(c, "get_version", {{"store", st}, {"stream", "s"}})["version"] == 2);
  ok(c, "remove_store", {{"store", st}});
}

TEST_CASE("a half-closed connection with nothing due is closed at once; an "
          "unterminated last line is not a message") {
  auto& node = default_node();
  for (std::string tail : {"", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
                               "\"health\"}"}) {
    int fd = raw_connect(node.port());
    if (!tail.empty())
      REQUIRE(::send(fd, tail.data(), tail.size(), MSG_NOSIGNAL)
              == static_cast<ssize_t>(tail.size()));
    REQUIRE(::shutdown(fd, SHUT_WR) == 0);
    bool closed = false;
    auto got = read_until_closed(fd, std::chrono::seconds{5}, closed);
    ::close(fd);
    CHECK(closed);
    CHECK(got.empty());
  }
  auto c = node.connect();
  expect_alive(c);
}

// The answers of 2000 pipelined requests far exceed what the node may hold
// for a connection (4 in work, 4096 bytes unread): it stops reading and
// resumes as the client takes answers, before and after the half-close.
TEST_CASE("a half-closed connection past its backpressure limits gets every "
          "answer") {
  auto& node = tight_node();
  constexpr int n = 2000;
  std::string wire;
  for (int i = 0; i < n; ++i)
    wire += "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(i)
            + ",\"method\":\"health\"}\r\n";
  int fd = raw_connect(node.port());
  // The client starts reading only after 300 ms, by when the node has
  // stopped reading it; the requests it has not read yet (about 90 KB) wait
  // in the kernel's buffers.
  std::thread sender{[&] {
    auto sent = ::send(fd, wire.data(), wire.size(), MSG_NOSIGNAL);
    CHECK(sent == static_cast<ssize_t>(wire.size()));
    CHECK(::shutdown(fd, SHUT_WR) == 0);
  }};
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  bool closed = false;
  auto got = read_until_closed(fd, std::chrono::seconds{30}, closed);
  sender.join();
  ::close(fd);
  CHECK(closed);
  auto ids = result_ids(got);
  CHECK(ids.size() == n);
  std::multiset<int> want;
  for (int i = 0; i < n; ++i)
    want.insert(i);
  CHECK(ids == want);
}

TEST_CASE("beyond --max-connections a connection is answered overloaded and "
          "closed; a closed connection frees its place") {
  auto& node = tight_node();
  std::vector<json_client> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(node.connect());
    expect_alive(open.back());
  }
  int fd = raw_connect(node.port());
  bool closed = false;
  auto got = read_until_closed(fd, std::chrono::seconds{5}, closed);
  ::close(fd);
  CHECK(closed);
  auto nl = got.find('\n');
  REQUIRE(nl != std::string::npos);
  auto resp = json::parse(got.substr(0, nl), nullptr, false);
  INFO("received: " << got);
  CHECK(resp["id"].is_null());
  CHECK(resp["error"]["data"]["reason"] == "overloaded");
  CHECK(resp["error"]["data"]["limit"] == 3);
  // The others still work; once one closes, a new one is taken.
  for (auto& c : open)
    expect_alive(c);
  open.back().close();
  open.pop_back();
  bool admitted = false;
  for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
    auto c = node.connect();
    auto r = c.call("health", json::object(), 2000);
    admitted = r && r->contains("result");
    if (!admitted)
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  CHECK(admitted);
}
