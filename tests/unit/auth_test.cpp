// Authentication and authorization without a node (protocol section 8): the
// auth file's parser, the policy (user, method, store -> verdict), and a
// connection's gate (authenticate answered in order, five failures close).

#include <doctest/doctest.h>

#include <fstream>

#include "gateway/auth.hpp"
#include "gateway/auth_check.hpp"
#include "gateway/auth_gate.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::gateway;
using nlohmann::json;

namespace {

const std::string ops_token = "ops-token-0123456789";
const std::string billing_token = "billing-token-0123456789";
const std::string audit_token = "audit-token-0123456789";

json user(const std::string& name, const std::string& token, json rights) {
  json u{{"name", name}, {"token_sha256", to_hex(sha256(token))}};
  if (rights == "admin")
    u["role"] = "admin";
  else
    u["stores"] = rights;
  return u;
}

json sample_file() {
  return json{
    {"users",
     {user("ops", ops_token, "admin"),
      user("billing", billing_token, {{"orders", "writer"}, {"*", "reader"}}),
      user("audit", audit_token, {{"orders", "reader"}})}}};
}

auth_table parse_ok(const json& file) {
  auth_table t;
  std::string err;
  INFO(file.dump());
  REQUIRE_MESSAGE(auth_table::parse(file.dump(), t, err), err);
  return t;
}

std::string parse_error(const std::string& text) {
  auth_table t;
  std::string err;
  CHECK_FALSE(auth_table::parse(text, t, err));
  CHECK(!err.empty());
  return err;
}

/// An auth file on disk and its registry.
struct registry_fixture {
  cxesdb::tests::temp_dir dir{"cxesdb-auth"};
  std::string path = dir.path + "/auth.json";
  std::shared_ptr<auth_registry> reg;

  explicit registry_fixture(const json& file = sample_file()) {
    write(file.dump());
    reg = std::make_shared<auth_registry>(path);
    std::string err;
    REQUIRE_MESSAGE(reg->load(err), err);
  }

  void write(const std::string& text) {
    std::ofstream out{path, std::ios::trunc};
    out << text;
  }
};

std::string auth_line(const std::string& token, json id = 1) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "authenticate"},
              {"params", {{"token", token}}}}
    .dump();
}

} // namespace

TEST_CASE("sha256 and to_hex give the digest sha256sum prints") {
  // printf abc | sha256sum
  CHECK(to_hex(sha256("abc"))
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("a token is 16 to 256 printable bytes") {
  CHECK(valid_token(std::string(16, 'a')));
  CHECK(valid_token(std::string(256, '~')));
  CHECK(valid_token("with spaces inside!"));
  CHECK_FALSE(valid_token(std::string(15, 'a')));
  CHECK_FALSE(valid_token(std::string(257, 'a')));
  CHECK_FALSE(valid_token("0123456789abcdef\n"));
  CHECK_FALSE(valid_token("0123456789abcdef\x7f"));
  CHECK_FALSE(valid_token("0123456789abcdef\xc3\xa9"));
}

TEST_CASE("the auth file parses users, roles and store maps") {
  auto t = parse_ok(sample_file());
  REQUIRE(t.users().size() == 3);
  CHECK(t.users()[0].admin);
  CHECK(t.users()[1].role_on("orders") == store_role::writer);
  CHECK(t.users()[1].role_on("anything") == store_role::reader);
  CHECK(t.users()[2].role_on("orders") == store_role::reader);
  CHECK(t.users()[2].role_on("other") == store_role::none);
  CHECK(parse_ok(json{{"users", json::array()}}).users().empty());
}

TEST_CASE("a malformed auth file is refused with a reason, never a digest") {
  auto digest = to_hex(sha256(ops_token));
  CHECK(parse_error("") .find("not a JSON object") != std::string::npos);
  CHECK(parse_error("[1,2]").find("not a JSON object") != std::string::npos);
  CHECK(parse_error("{\"users\":{}}").find("array") != std::string::npos);
  CHECK(parse_error("{\"users\":[],\"extra\":1}").find("extra")
        != std::string::npos);
  CHECK(parse_error("{\"users\":[1]}").find("users[0]") != std::string::npos);
  auto bad = [&](json u) {
    auto err = parse_error(json{{"users", {u}}}.dump());
    CHECK(err.find(digest) == std::string::npos);
    return err;
  };
  CHECK(bad({{"token_sha256", digest}, {"role", "admin"}}).find("name")
        != std::string::npos);
  CHECK(bad({{"name", ""}, {"token_sha256", digest}, {"role", "admin"}})
          .find("name")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest.substr(1)},
             {"role", "admin"}})
          .find("64 hex")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", std::string(64, 'g')},
             {"role", "admin"}})
          .find("64 hex")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest}, {"role", "root"}})
          .find("role")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest}}).find("stores")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest}, {"role", "admin"},
             {"stores", json::object()}})
          .find("admin")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest},
             {"stores", {{"orders", "owner"}}}})
          .find("reader")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token_sha256", digest},
             {"stores", {{"Bad-Id", "reader"}}}})
          .find("Bad-Id")
        != std::string::npos);
  CHECK(bad({{"name", "x"}, {"token", "plain"}, {"role", "admin"}})
          .find("token")
        != std::string::npos);
  auto twice = json{{"users", {user("a", ops_token, "admin"),
                               user("a", billing_token, "admin")}}};
  CHECK(parse_error(twice.dump()).find("twice") != std::string::npos);
  auto same = json{{"users", {user("a", ops_token, "admin"),
                              user("b", ops_token, "admin")}}};
  CHECK(parse_error(same.dump()).find("same token") != std::string::npos);
  CHECK(parse_error(std::string(auth_table::file_bytes_max + 1, ' '))
          .find("larger")
        != std::string::npos);
}

TEST_CASE("authenticate finds a user by token, find by digest") {
  auto t = parse_ok(sample_file());
  auto u = t.authenticate(billing_token);
  REQUIRE(u != nullptr);
  CHECK(u->name == "billing");
  CHECK(t.authenticate("billing-token-012345678") == nullptr);
  CHECK(t.authenticate("") == nullptr);
  auto d = sha256(audit_token);
  auto f = t.find(std::string{reinterpret_cast<const char*>(d.data()), 32});
  REQUIRE(f != nullptr);
  CHECK(f->name == "audit");
  CHECK(t.find(std::string(32, '\0')) == nullptr);
  CHECK(t.find("") == nullptr);
}

TEST_CASE("the policy: every role against every method group") {
  auto t = parse_ok(sample_file());
  auto ops = &t.users()[0];
  auto billing = &t.users()[1];
  auto audit = &t.users()[2];
  const std::vector<std::string> open{"health", "authenticate"};
  const std::vector<std::string> any_user{"list_stores", "cluster_status"};
  const std::vector<std::string> reads{
    "get_store_status", "get_store_config", "get_events", "get_version",
    "get_streams", "read_all", "get_stream_metadata", "read_snapshot",
    "list_snapshots", "save_subscription", "unsubscribe",
    "remove_subscription", "get_subscriptions", "ack_event"};
  const std::vector<std::string> writes{
    "append_events", "delete_stream", "truncate_stream", "set_stream_metadata",
    "record_snapshot", "delete_snapshot"};
  const std::vector<std::string> admin{
    "create_store", "remove_store", "backup_store", "restore_store",
    "list_backups", "scavenge_store", "leave_cluster", "a_future_method"};
  for (auto& m : open) {
    INFO(m);
    CHECK(classify(m) == method_class::open);
    CHECK(authorize(nullptr, m, "orders") == verdict::allowed);
    CHECK(authorize(audit, m, "other") == verdict::allowed);
  }
  for (auto& m : any_user) {
    INFO(m);
    CHECK(authorize(nullptr, m, "orders") == verdict::unauthorized);
    CHECK(authorize(audit, m, "other") == verdict::allowed);
  }
  for (auto& m : reads) {
    INFO(m);
    CHECK(classify(m) == method_class::reader);
    CHECK(authorize(nullptr, m, "orders") == verdict::unauthorized);
    CHECK(authorize(ops, m, "anything") == verdict::allowed);
    CHECK(authorize(billing, m, "orders") == verdict::allowed);
    CHECK(authorize(billing, m, "other") == verdict::allowed); // "*": reader
    CHECK(authorize(audit, m, "orders") == verdict::allowed);
    CHECK(authorize(audit, m, "other") == verdict::forbidden);
  }
  for (auto& m : writes) {
    INFO(m);
    CHECK(classify(m) == method_class::writer);
    CHECK(authorize(nullptr, m, "orders") == verdict::unauthorized);
    CHECK(authorize(ops, m, "anything") == verdict::allowed);
    CHECK(authorize(billing, m, "orders") == verdict::allowed);
    CHECK(authorize(billing, m, "other") == verdict::forbidden);
    CHECK(authorize(audit, m, "orders") == verdict::forbidden);
  }
  for (auto& m : admin) {
    INFO(m);
    CHECK(classify(m) == method_class::admin);
    CHECK(authorize(nullptr, m, "orders") == verdict::unauthorized);
    CHECK(authorize(ops, m, "orders") == verdict::allowed);
    CHECK(authorize(billing, m, "orders") == verdict::forbidden);
    CHECK(authorize(audit, m, "orders") == verdict::forbidden);
  }
}

TEST_CASE("an exact store id wins over \"*\"") {
  auto t = parse_ok(json{
    {"users", {user("u", ops_token, {{"*", "writer"}, {"ledger", "reader"}})}}});
  auto u = &t.users()[0];
  CHECK(authorize(u, "append_events", "orders") == verdict::allowed);
  CHECK(authorize(u, "append_events", "ledger") == verdict::forbidden);
  CHECK(authorize(u, "get_events", "ledger") == verdict::allowed);
}

TEST_CASE("authenticate's result names the user, role and stores") {
  auto t = parse_ok(sample_file());
  auto admin = json::parse(authenticate_result(t.users()[0]));
  CHECK(admin == json{{"authenticated", true}, {"user", "ops"},
                      {"role", "admin"}, {"stores", json::object()}});
  auto billing = json::parse(authenticate_result(t.users()[1]));
  CHECK(billing["role"] == "user");
  CHECK(billing["stores"] == json{{"orders", "writer"}, {"*", "reader"}});
}

TEST_CASE("the worker's checks: unauthorized before, forbidden with store") {
  registry_fixture f;
  std::shared_ptr<const auth_table> table;
  const auth_user* user = nullptr;
  std::string none;
  auto e = check_authenticated(f.reg.get(), &none, "get_events", table, user);
  REQUIRE(e.has_value());
  CHECK(e->reason == cxesdb::stores::errc::unauthorized);
  CHECK_FALSE(check_authenticated(f.reg.get(), &none, "health", table, user));
  // Without auth, or for the node's own callers: nothing is checked.
  CHECK_FALSE(check_authenticated(nullptr, &none, "get_events", table, user));
  CHECK_FALSE(check_authenticated(f.reg.get(), nullptr, "get_events", table,
                                  user));
  // authenticate inside a batch.
  e = check_authenticated(f.reg.get(), &none, "authenticate", table, user);
  REQUIRE(e.has_value());
  CHECK(e->reason == cxesdb::stores::errc::invalid_request);
  auto d = sha256(audit_token);
  std::string digest{reinterpret_cast<const char*>(d.data()), 32};
  CHECK_FALSE(check_authenticated(f.reg.get(), &digest, "get_events", table,
                                  user));
  REQUIRE(user != nullptr);
  CHECK(user->name == "audit");
  CHECK_FALSE(check_rights(user, "get_events", "orders", false));
  auto r = check_rights(user, "get_events", "other", true);
  REQUIRE(r.has_value());
  CHECK(r->reason == cxesdb::stores::errc::forbidden);
  CHECK(r->data["store"] == "other");
  r = check_rights(user, "leave_cluster", "default", false);
  REQUIRE(r.has_value());
  CHECK(r->data["store"].is_null());
  r = check_rights(user, "create_store", "new_one", true);
  REQUIRE(r.has_value());
  CHECK(r->data["store"] == "new_one");
}

TEST_CASE("the gate answers authenticate and forwards with the principal") {
  registry_fixture f;
  auth_gate gate{f.reg};
  // Before authenticating: forwarded with an empty principal.
  auto o = gate.on_line(R"({"jsonrpc":"2.0","id":1,"method":"health"})");
  CHECK(o.kind == auth_gate::outcome::forward);
  CHECK(gate.principal().empty());
  o = gate.on_line(auth_line(billing_token, "a"));
  REQUIRE(o.kind == auth_gate::outcome::answer);
  auto resp = json::parse(o.text);
  CHECK(resp["id"] == "a");
  CHECK(resp["result"]["user"] == "billing");
  CHECK(o.text.find(billing_token) == std::string::npos);
  auto d = sha256(billing_token);
  CHECK(gate.principal()
        == std::string(reinterpret_cast<const char*>(d.data()), 32));
  // Other messages are forwarded, even when they mention the word.
  o = gate.on_line(
    R"({"jsonrpc":"2.0","id":2,"method":"get_events","params":{"stream":"authenticate"}})");
  CHECK(o.kind == auth_gate::outcome::forward);
  // A batch holding authenticate goes to the gateway (which refuses it).
  o = gate.on_line("[" + auth_line(ops_token) + "]");
  CHECK(o.kind == auth_gate::outcome::forward);
  // So does JSON nested too deep to parse safely, and text that is not JSON.
  o = gate.on_line(std::string(10000, '[') + "\"authenticate\"");
  CHECK(o.kind == auth_gate::outcome::forward);
  o = gate.on_line("authenticate me");
  CHECK(o.kind == auth_gate::outcome::forward);
  // Authenticating again switches the user.
  o = gate.on_line(auth_line(ops_token, 3));
  REQUIRE(o.kind == auth_gate::outcome::answer);
  CHECK(json::parse(o.text)["result"]["role"] == "admin");
}

TEST_CASE("the gate: bad params, notifications, long messages") {
  registry_fixture f;
  auth_gate gate{f.reg};
  auto o = gate.on_line(R"({"jsonrpc":"2.0","id":1,"method":"authenticate"})");
  REQUIRE(o.kind == auth_gate::outcome::answer);
  auto e = json::parse(o.text)["error"];
  CHECK(e["data"]["reason"] == "invalid_params");
  o = gate.on_line(
    R"({"jsonrpc":"2.0","id":1,"method":"authenticate","params":{"token":5}})");
  CHECK(json::parse(o.text)["error"]["data"]["field"] == "token");
  o = gate.on_line(
    R"({"jsonrpc":"2.0","id":1,"method":"authenticate","params":{"token":"0123456789abcdef","x":1}})");
  CHECK(json::parse(o.text)["error"]["data"]["field"] == "x");
  CHECK(gate.failures() == 0); // not a wrong token
  // A notification: handled, nothing to write.
  auto note = json{{"jsonrpc", "2.0"},
                   {"method", "authenticate"},
                   {"params", {{"token", audit_token}}}};
  o = gate.on_line(note.dump());
  CHECK(o.kind == auth_gate::outcome::answer);
  CHECK(o.text.empty());
  CHECK(!gate.principal().empty());
  // Before authentication, long messages are refused unread.
  auth_gate fresh{f.reg};
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"health","params":{"x":")"
                    + std::string(auth_gate::unauthenticated_message_bytes_max,
                                  'x')
                    + "\"}}";
  o = fresh.on_line(big);
  REQUIRE(o.kind == auth_gate::outcome::answer);
  CHECK(json::parse(o.text)["error"]["data"]["reason"] == "unauthorized");
  // A huge token is a wrong token, never echoed.
  std::string huge(1000, 'k');
  o = fresh.on_line(auth_line(huge));
  CHECK(json::parse(o.text)["error"]["data"]["reason"] == "unauthorized");
  CHECK(o.text.find(huge) == std::string::npos);
  CHECK(fresh.failures() == 1);
}

TEST_CASE("the fifth wrong token closes the connection") {
  registry_fixture f;
  auth_gate gate{f.reg};
  for (size_t i = 1; i < auth_gate::failures_max; ++i) {
    auto o = gate.on_line(auth_line("wrong-token-0123456789", int(i)));
    REQUIRE(o.kind == auth_gate::outcome::answer);
    auto e = json::parse(o.text)["error"];
    CHECK(e["code"] == -32006);
    CHECK(o.text.find("wrong-token") == std::string::npos);
  }
  auto o = gate.on_line(auth_line("wrong-token-0123456789", 5));
  CHECK(o.kind == auth_gate::outcome::answer_and_close);
  CHECK(json::parse(o.text)["error"]["data"]["reason"] == "unauthorized");
  CHECK(gate.principal().empty());
}

TEST_CASE("the registry keeps the old table when a reload fails") {
  registry_fixture f;
  auto before = f.reg->current();
  f.write("{\"users\": [");
  std::string err;
  CHECK_FALSE(f.reg->load(err));
  CHECK(err.find(f.path) != std::string::npos);
  CHECK(f.reg->current() == before);
  f.write(json{{"users", {user("ops", ops_token, "admin")}}}.dump());
  REQUIRE(f.reg->load(err));
  CHECK(f.reg->current()->users().size() == 1);
  CHECK(before->users().size() == 3); // readers keep their version
  auth_registry missing{f.dir.path + "/nope.json"};
  CHECK_FALSE(missing.load(err));
  CHECK(err.find("cannot read") != std::string::npos);
}
