// Authentication and authorization against a real cxesdb-node started with
// --auth-file (protocol section 8): unauthenticated calls, each role against
// each method group, "*" stores, wrong tokens and the fifth failure, SIGHUP
// revocation while a connection stays open, subscriptions refused when
// made, and no token in the node's log.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "gateway/auth.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/security/security_support.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::tests;
using cxesdb::gateway::sha256;
using cxesdb::gateway::to_hex;

namespace {

const std::string ops_token = "ops-token-aaaaaaaaaaaa";
const std::string billing_token = "billing-token-bbbbbbbbbbbb";
const std::string audit_token = "audit-token-cccccccccccc";
const std::string tenant_token = "tenant-token-dddddddddddd";
const std::string rotated_token = "billing-rotated-eeeeeeeeeeee";

json user(const std::string& name, const std::string& token, json rights) {
  json u{{"name", name}, {"token_sha256", to_hex(sha256(token))}};
  if (rights == "admin")
    u["role"] = "admin";
  else
    u["stores"] = rights;
  return u;
}

json users_file() {
  return json{
    {"users",
     {user("ops", ops_token, "admin"),
      user("billing", billing_token, {{"orders", "writer"}, {"*", "reader"}}),
      user("audit", audit_token, {{"orders", "reader"}}),
      user("tenant", tenant_token, {{"ledger", "writer"}})}}};
}

/// The auth file and the node that reads it, shared by the test cases.
struct secured_node {
  temp_dir files{"cxesdb-auth-it"};
  std::string auth_path = files.path + "/auth.json";
  std::unique_ptr<node_process> node;

  secured_node() {
    write(users_file());
    node_options opts;
    opts.extra_args = {"--auth-file", auth_path};
    node = std::make_unique<node_process>(opts);
    auto admin = connect_as(ops_token);
    for (auto store : {"orders", "ledger", "other"})
      ok(admin, "create_store", {{"store", store}});
  }

  void write(const json& file) {
    std::ofstream out{auth_path + ".tmp", std::ios::trunc};
    out << file.dump(2);
    out.close();
    std::rename((auth_path + ".tmp").c_str(), auth_path.c_str());
  }

  /// Sends SIGHUP and waits for the node to say it reloaded (or refused)
  /// the file: the `n`-th such line of its log.
  void reload(const std::string& expect = "auth file reloaded") {
    auto before = count(node->log(), expect);
    REQUIRE(::kill(node->pid(), SIGHUP) == 0);
    wait_for_log(*node, expect, before + 1);
  }

  json_client connect() {
    return node->connect();
  }

  json_client connect_as(const std::string& token) {
    auto c = node->connect();
    auto r = ok(c, "authenticate", {{"token", token}});
    REQUIRE(r.value("authenticated", false));
    return c;
  }
};

secured_node& the_node() {
  static std::unique_ptr<secured_node> n;
  if (!n)
    n = std::make_unique<secured_node>();
  REQUIRE_MESSAGE(n->node->running(), "the node died; log tail:\n"
                                         << n->node->log_tail());
  return *n;
}

/// One call of each method group, with params that are valid for a store.
struct probe {
  std::string method;
  json params;
};

std::vector<probe> reads(const std::string& store) {
  return {
    {"get_events", {{"store", store}, {"stream", "s"}}},
    {"get_version", {{"store", store}, {"stream", "s"}}},
    {"get_streams", {{"store", store}}},
    {"read_all", {{"store", store}}},
    {"get_store_status", {{"store", store}}},
    {"get_store_config", {{"store", store}}},
    {"list_snapshots", {{"store", store}}},
    {"read_snapshot", {{"store", store}, {"source_uuid", "a"},
                       {"stream_uuid", "b"}}},
    {"get_subscriptions", {{"store", store}}},
  };
}

std::vector<probe> writes(const std::string& store) {
  return {
    {"append_events", {{"store", store}, {"stream", "s"},
                       {"events", {make_event("Probed")}}}},
    {"record_snapshot", {{"store", store}, {"source_uuid", "a"},
                         {"stream_uuid", "b"}, {"version", 1},
                         {"data", {{"x", 1}}}}},
    {"delete_snapshot", {{"store", store}, {"source_uuid", "a"},
                         {"stream_uuid", "b"}, {"version", 1}}},
  };
}

/// Admin calls that fail harmlessly after the check (not_found,
/// invalid_params), so that probing them changes nothing.
std::vector<probe> admin_calls() {
  return {
    {"create_store", {{"store", "orders"}}},          // already_exists
    {"remove_store", {{"store", "no_such_store"}}},   // not_found
    {"leave_cluster", {{"node", "no_such_node"}}},    // not_found
  };
}

/// The reason of an answer, or "ok".
std::string outcome(json_client& c, const probe& p) {
  auto resp = rpc(c, p.method, p.params);
  if (resp.contains("result"))
    return "ok";
  return resp["error"]["data"].value("reason", "?");
}

void expect_allowed(json_client& c, const std::vector<probe>& ps) {
  for (auto& p : ps) {
    auto r = outcome(c, p);
    INFO(p.method << " " << p.params.dump() << " -> " << r);
    CHECK(r != "unauthorized");
    CHECK(r != "forbidden");
  }
}

void expect_forbidden(json_client& c, const std::vector<probe>& ps) {
  for (auto& p : ps) {
    auto data = err(c, p.method, p.params, "forbidden");
    INFO(p.method << " " << p.params.dump());
    if (p.params.contains("store"))
      CHECK(data["store"] == p.params["store"]);
    else
      CHECK(data["store"].is_null());
  }
}

} // namespace

TEST_CASE("before authenticating only health and authenticate answer") {
  auto& n = the_node();
  auto c = n.connect();
  expect_alive(c);
  std::vector<probe> all = reads("orders");
  for (auto& p : writes("orders"))
    all.push_back(p);
  for (auto& p : admin_calls())
    all.push_back(p);
  all.push_back({"list_stores", json::object()});
  all.push_back({"cluster_status", json::object()});
  all.push_back({"save_subscription", {{"store", "orders"},
                                       {"type", "by_stream"},
                                       {"selector", "$all"}}});
  for (auto& p : all) {
    INFO(p.method);
    err(c, p.method, p.params, "unauthorized");
  }
  // Even invalid params are not looked at before authentication.
  err(c, "get_events", {{"store", "Not A Store"}}, "unauthorized");
  expect_alive(c);
  // A message too long for an unauthenticated connection.
  std::string big(70000, 'x');
  c.send(json{{"jsonrpc", "2.0"}, {"id", 7}, {"method", "health"},
              {"params", {{"pad", big}}}});
  auto resp = read_json(c);
  check_error(resp, "unauthorized");
  expect_alive(c);
  // Authenticated, everything answers.
  auto r = ok(c, "authenticate", {{"token", audit_token}});
  CHECK(r == json{{"authenticated", true}, {"user", "audit"},
                  {"role", "user"}, {"stores", {{"orders", "reader"}}}});
  ok(c, "list_stores");
  ok(c, "cluster_status");
}

TEST_CASE("each role against each method group") {
  auto& n = the_node();
  SUBCASE("admin may do everything") {
    auto c = n.connect_as(ops_token);
    for (auto store : {"orders", "ledger"}) {
      expect_allowed(c, reads(store));
      expect_allowed(c, writes(store));
    }
    expect_allowed(c, admin_calls());
    ok(c, "create_store", {{"store", "made_by_ops"}});
    ok(c, "remove_store", {{"store", "made_by_ops"}});
  }
  SUBCASE("a writer writes its store, reads every store through *") {
    auto c = n.connect_as(billing_token);
    expect_allowed(c, reads("orders"));
    expect_allowed(c, writes("orders"));
    expect_allowed(c, reads("ledger"));   // "*": reader
    expect_forbidden(c, writes("ledger"));
    expect_forbidden(c, admin_calls());
    // The default store is a store like any other: reader through "*".
    ok(c, "get_streams");
    err(c, "append_events", {{"stream", "s"}, {"events", json::array()}},
        "forbidden");
  }
  SUBCASE("a reader reads its store and nothing else") {
    auto c = n.connect_as(audit_token);
    expect_allowed(c, reads("orders"));
    expect_forbidden(c, writes("orders"));
    expect_forbidden(c, reads("ledger"));
    expect_forbidden(c, writes("ledger"));
    expect_forbidden(c, admin_calls());
    auto data = err(c, "get_events", {{"stream", "s"}}, "forbidden");
    CHECK(data["store"] == "default");
    // Listing stores and the cluster is open to every user.
    ok(c, "list_stores");
    ok(c, "cluster_status");
  }
  SUBCASE("a writer of one store sees no other") {
    auto c = n.connect_as(tenant_token);
    expect_allowed(c, reads("ledger"));
    expect_allowed(c, writes("ledger"));
    expect_forbidden(c, reads("orders"));
    expect_forbidden(c, writes("orders"));
    expect_forbidden(c, admin_calls());
  }
  SUBCASE("a batch is checked call by call") {
    auto c = n.connect_as(audit_token);
    json batch = json::array();
    batch.push_back({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "get_version"},
                     {"params", {{"store", "orders"}, {"stream", "s"}}}});
    batch.push_back({{"jsonrpc", "2.0"}, {"id", 2}, {"method", "get_version"},
                     {"params", {{"store", "ledger"}, {"stream", "s"}}}});
    batch.push_back({{"jsonrpc", "2.0"}, {"id", 3}, {"method", "authenticate"},
                     {"params", {{"token", ops_token}}}});
    c.send(batch);
    auto resp = read_json(c);
    REQUIRE(resp.is_array());
    REQUIRE(resp.size() == 3);
    std::map<int, json> by_id;
    for (auto& r : resp)
      by_id[r["id"].get<int>()] = r;
    result_of(by_id[1]);
    check_error(by_id[2], "forbidden");
    check_error(by_id[3], "invalid_request");
    CHECK(resp.dump().find(ops_token) == std::string::npos);
  }
}

TEST_CASE("a request pipelined behind authenticate runs as the new user") {
  auto& n = the_node();
  auto c = n.connect();
  std::string lines
    = json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "authenticate"},
           {"params", {{"token", billing_token}}}}
        .dump()
      + "\n"
      + json{{"jsonrpc", "2.0"}, {"id", 2}, {"method", "get_version"},
             {"params", {{"store", "orders"}, {"stream", "s"}}}}
          .dump()
      + "\n";
  REQUIRE(c.send_raw(lines));
  std::map<int, json> by_id;
  for (int i = 0; i < 2; ++i) {
    auto r = read_json(c);
    by_id[r["id"].get<int>()] = r;
  }
  CHECK(result_of(by_id[1])["user"] == "billing");
  result_of(by_id[2]);
}

TEST_CASE("wrong tokens are unauthorized; the fifth closes the connection") {
  auto& n = the_node();
  auto c = n.connect();
  const std::vector<std::string> wrong{
    "not-a-token-at-all-000", "short", std::string(5000, 'z'),
    "ops-token-aaaaaaaaaaab"};
  for (auto& t : wrong) {
    auto resp = rpc(c, "authenticate", {{"token", t}});
    check_error(resp, "unauthorized");
    CHECK(resp.dump().find(t) == std::string::npos);
    expect_alive(c); // four failures: the connection stays
  }
  auto resp = rpc(c, "authenticate", {{"token", "fifth-wrong-token-000"}});
  check_error(resp, "unauthorized");
  // The node closes the connection after its answer.
  auto more = c.read_line(rpc_timeout_ms);
  CHECK_FALSE(more.has_value());
  CHECK_FALSE(c.connected());
  // Other connections are not affected.
  auto d = n.connect_as(audit_token);
  ok(d, "get_version", {{"store", "orders"}, {"stream", "s"}});
}

TEST_CASE("SIGHUP reloads the file: a removed user is refused at once") {
  auto& n = the_node();
  auto billing = n.connect_as(billing_token);
  auto audit = n.connect_as(audit_token);
  ok(billing, "get_version", {{"store", "orders"}, {"stream", "s"}});
  // billing's token is rotated; audit loses orders and gains ledger.
  auto file = users_file();
  file["users"][1] = user("billing", rotated_token,
                          {{"orders", "writer"}, {"*", "reader"}});
  file["users"][2] = user("audit", audit_token, {{"ledger", "reader"}});
  n.write(file);
  n.reload();
  // The same connections, still open.
  err(billing, "get_version", {{"store", "orders"}, {"stream", "s"}},
      "unauthorized");
  expect_alive(billing); // health needs no user
  err(billing, "authenticate", {{"token", billing_token}}, "unauthorized");
  ok(billing, "authenticate", {{"token", rotated_token}});
  ok(billing, "get_version", {{"store", "orders"}, {"stream", "s"}});
  err(audit, "get_version", {{"store", "orders"}, {"stream", "s"}},
      "forbidden");
  ok(audit, "get_version", {{"store", "ledger"}, {"stream", "s"}});
  // A broken file changes nothing.
  {
    std::ofstream out{n.auth_path, std::ios::trunc};
    out << "{\"users\": [";
  }
  n.reload("auth file not reloaded");
  ok(billing, "get_version", {{"store", "orders"}, {"stream", "s"}});
  // The original file back, for the other test cases.
  n.write(users_file());
  n.reload();
  err(billing, "get_version", {{"store", "orders"}, {"stream", "s"}},
      "unauthorized");
  ok(billing, "authenticate", {{"token", billing_token}});
}

TEST_CASE("subscriptions are checked when they are made") {
  auto& n = the_node();
  auto audit = n.connect_as(audit_token);
  auto sub = [&](json_client& c, const std::string& store) {
    return rpc(c, "save_subscription", {{"store", store},
                                        {"type", "by_stream"},
                                        {"selector", "$all"},
                                        {"start_from", "origin"}});
  };
  check_error(sub(audit, "ledger"), "forbidden");
  check_error(sub(audit, "other"), "forbidden");
  auto tenant = n.connect_as(tenant_token);
  check_error(sub(tenant, "orders"), "forbidden");
  // Allowed where the user reads; events arrive.
  auto r = result_of(sub(audit, "orders"));
  auto writer = n.connect_as(billing_token);
  ok(writer, "append_events", {{"store", "orders"},
                               {"stream", "subscribed"},
                               {"events", {make_event("Seen")}}});
  for (int i = 0; i < 10000; ++i) {
    auto m = read_json(audit);
    if (m.value("method", "") != "event")
      continue;
    if (m["params"]["event"]["event_type"] == "Seen")
      break;
  }
  ok(audit, "unsubscribe", {{"store", "orders"},
                            {"subscription", r["subscription"]}});
}

TEST_CASE("tokens never reach the node's log") {
  auto& n = the_node();
  // Failures, successes and a reload happened above; one more of each.
  auto c = n.connect();
  err(c, "authenticate", {{"token", "logged-never-ffffffffff"}},
      "unauthorized");
  ok(c, "authenticate", {{"token", ops_token}});
  n.reload();
  auto log = n.node->log();
  CHECK(log.find("authentication on") != std::string::npos);
  for (auto& t : {ops_token, billing_token, audit_token, tenant_token,
                  rotated_token, std::string{"logged-never-ffffffffff"}}) {
    INFO(t);
    CHECK(log.find(t) == std::string::npos);
    CHECK(log.find(to_hex(sha256(t))) == std::string::npos);
  }
}

TEST_CASE("a malformed auth file stops the node before it listens") {
  temp_dir d{"cxesdb-auth-bad"};
  auto path = d.path + "/auth.json";
  auto digest = to_hex(sha256(ops_token));
  const std::vector<std::pair<std::string, std::string>> cases{
    {"", "not a JSON object"},
    {"{\"users\":[{\"name\":\"x\",\"token_sha256\":\"" + digest
       + "\",\"role\":\"root\"}]}",
     "role"},
    {"{\"users\":[{\"name\":\"x\",\"token_sha256\":\"abc\",\"role\":"
     "\"admin\"}]}",
     "64 hex"},
  };
  for (auto& [text, expect] : cases) {
    {
      std::ofstream out{path, std::ios::trunc};
      out << text;
    }
    auto r = run_node_to_exit({"--auth-file", path, "--client-port", "0",
                               "--api-port", "0", "--cluster-port", "0",
                               "--data-dir", d.path + "/data"});
    INFO(r.output);
    CHECK(r.status == 2);
    CHECK(r.output.find(expect) != std::string::npos);
    CHECK(r.output.find("listening") == std::string::npos);
    CHECK(r.output.find(digest) == std::string::npos);
  }
  auto r = run_node_to_exit({"--auth-file", d.path + "/missing.json"});
  CHECK(r.status == 2);
  CHECK(r.output.find("cannot read the auth file") != std::string::npos);
}
