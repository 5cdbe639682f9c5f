// Unit tests of the shell's parts: tokenizer, argument parsing, tables,
// error texts, request building, completion, and the connection against a
// scripted in-process server. No node needed.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <functional>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "tools/shell/command_args.hpp"
#include "tools/shell/command_table.hpp"
#include "tools/shell/connection.hpp"
#include "tools/shell/flags.hpp"
#include "tools/shell/line_editor.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/session.hpp"
#include "tools/shell/tail_command.hpp"
#include "tools/shell/top_command.hpp"
#include "tools/shell/table_printer.hpp"
#include "tools/shell/tokenizer.hpp"

using namespace cxesdb::shell;
using strings = std::vector<std::string>;

TEST_CASE("tokenize splits like a shell and keeps JSON whole") {
  CHECK(tokenize("  read  s-1 --count 5 ").words
        == strings{"read", "s-1", "--count", "5"});
  CHECK(tokenize(R"(append s {"a": "b c", "d": [1, "]"]} --type T)").words
        == strings{"append", "s", R"({"a": "b c", "d": [1, "]"]})", "--type",
                   "T"});
  CHECK(tokenize(R"(x 'it''s' "a \"q\"" a\ b)").words
        == strings{"x", "its", R"(a "q")", "a b"});
  CHECK(tokenize(R"(append s '"text"')").words
        == strings{"append", "s", R"("text")"});
  CHECK(tokenize("x ''").words == strings{"x", ""});
  CHECK(tokenize("a 'open").error);
  CHECK(tokenize("a {\"x\": 1").error);
  CHECK(tokenize("").words.empty());
}

TEST_CASE("parse_args splits options and positionals") {
  std::vector<option_spec> opts{{"count", "N", ""}, {"backward", "", ""}};
  auto a = parse_args(opts, {"s", "--count", "-1", "--backward", "-", "--",
                             "--count"});
  CHECK(a.positional == strings{"s", "-", "--count"});
  CHECK(a.get("count") == "-1");
  CHECK(a.has("backward"));
  CHECK(parse_args(opts, {"--count=7"}).get("count") == "7");
  CHECK_THROWS_AS(parse_args(opts, {"--nope"}), usage_error);
  CHECK_THROWS_AS(parse_args(opts, {"--count"}), usage_error);
  CHECK_THROWS_AS(parse_args(opts, {"--backward=1"}), usage_error);
  CHECK(parse_int("-12", "x") == -12);
  CHECK_THROWS_AS(parse_int("1x", "x"), usage_error);
  CHECK_THROWS_AS(parse_int(" 1", "x"), usage_error);
  CHECK_THROWS_AS(parse_int("-", "x"), usage_error);
  CHECK_THROWS_AS(parse_int("99999999999999999999", "x"), usage_error);
}

TEST_CASE("parse_flags reads the flags before the command") {
  auto f = parse_flags({"--port", "7000", "--json", "--store=orders", "read",
                        "s", "--json"});
  CHECK(f.options.port == 7000);
  CHECK(f.options.json);
  CHECK(f.options.store == "orders");
  CHECK(f.command == strings{"read", "s", "--json"});
  CHECK(parse_flags({}).command.empty());
  CHECK_THROWS_AS(parse_flags({"--port", "0"}), usage_error);
  CHECK_THROWS_AS(parse_flags({"--port"}), usage_error);
  CHECK_THROWS_AS(parse_flags({"--timeout-ms", "0"}), usage_error);
  CHECK_THROWS_AS(parse_flags({"--frob"}), usage_error);
}

TEST_CASE("parse_flags reads the token and the TLS settings") {
  auto f = parse_flags({"--token", "t0123456789abcdef", "--tls-ca", "ca.pem",
                        "health"});
  CHECK(f.options.token == "t0123456789abcdef");
  REQUIRE(f.options.tls.has_value());
  CHECK(f.options.tls->ca_file == "ca.pem");
  CHECK(f.options.tls->cert_file.empty());
  f = parse_flags({"--tls-cert=c.pem", "--tls-key=k.pem",
                   "--tls-server-name", "node1", "health"});
  REQUIRE(f.options.tls.has_value());
  CHECK(f.options.tls->ca_file.empty()); // the system's CAs
  CHECK(f.options.tls->cert_file == "c.pem");
  CHECK(f.options.tls->key_file == "k.pem");
  CHECK(f.options.tls->server_name == "node1");
  CHECK_FALSE(parse_flags({"health"}).options.tls.has_value());
  CHECK(parse_flags({"health"}).options.token.empty());
  CHECK_THROWS_AS(parse_flags({"--tls-cert", "c.pem", "health"}), usage_error);
  CHECK_THROWS_AS(parse_flags({"--token", ""}), usage_error);
  CHECK_THROWS_AS(parse_flags({"--tls-ca"}), usage_error);
}

TEST_CASE("commands build protocol requests") {
  auto build = [](const strings& words, command_context ctx = {}) {
    auto cmd = find_command(words[0]);
    REQUIRE(cmd != nullptr);
    auto args = parse_args(all_options(*cmd),
                           strings(words.begin() + 1, words.end()));
    return cmd->build(args, ctx);
  };
  auto req = build({"append", "s", "--expected", "no_stream", "--type", "T",
                    R"({"x":1})", "--metadata", R"({"m":2})"});
  CHECK(req.method == "append_events");
  CHECK(req.params["expected_version"] == "no_stream");
  CHECK(req.params["events"][0]["event_type"] == "T");
  CHECK(req.params["events"][0]["data"]["x"] == 1);
  CHECK(req.params["events"][0]["metadata"]["m"] == 2);
  CHECK(build({"append", "s", "--expected", "3", "1"})
          .params["expected_version"]
        == 3);
  CHECK_THROWS_AS(build({"append", "s", "not json"}), usage_error);
  CHECK_THROWS_AS(build({"append", "s"}), usage_error);
  command_context interactive;
  interactive.interactive = true;
  CHECK_THROWS_AS(build({"append", "s", "--file", "-"}, interactive),
                  usage_error);
  CHECK_THROWS_AS(build({"append", "s", "--file", "/nonexistent/x.json"}),
                  command_error);
  std::istringstream in{R"({"events":[{"data":1}]})"};
  command_context piped;
  piped.in = &in;
  req = build({"append", "s", "--file", "-", "--type", "D"}, piped);
  CHECK(req.params["events"][0]["event_type"] == "D");
  req = build({"read", "s", "--start", "4", "--backward"});
  CHECK(req.method == "get_events");
  CHECK(req.params
        == nlohmann::json{{"stream", "s"}, {"start", 4},
                          {"direction", "backward"}});
  req = build({"create-store", "o", "--tags", "a,,b", "--timeout-ms", "500"});
  CHECK(req.params["config"]
        == nlohmann::json{{"tags", {"a", "b"}}, {"timeout_ms", 500}});
  req = build({"read-all", "--from", "10", "--count", "2"});
  CHECK(req.params["from_position"] == 10);
  command_context in_store;
  in_store.store = "orders";
  CHECK(build({"store-status"}, in_store).params["store"] == "orders");
  CHECK(build({"store-status", "x"}, in_store).params["store"] == "x");
  CHECK_THROWS_AS(build({"raw", "m", "[1]"}), usage_error);
  req = build({"record-snapshot", "src", "st", "3", R"({"s":1})"});
  CHECK(req.params["version"] == 3);
  req = build({"backup", "nightly"});
  CHECK(req.method == "backup_store");
  CHECK(req.params == nlohmann::json{{"name", "nightly"}});
  CHECK(build({"backups"}).method == "list_backups");
  req = build({"restore", "nightly", "orders_back"});
  CHECK(req.method == "restore_store");
  CHECK(req.params
        == nlohmann::json{{"backup", "nightly"}, {"store", "orders_back"}});
  req = build({"create-store", "o", "--template", "audit", "--timeout-ms", "9"});
  CHECK(req.params
        == nlohmann::json{{"store", "o"},
                          {"template", "audit"},
                          {"config", {{"timeout_ms", 9}}}});
}

TEST_CASE("tail parses its subscription arguments") {
  auto parse = [](const strings& words, command_context ctx = {}) {
    auto cmd = find_command("tail");
    REQUIRE(cmd != nullptr);
    return parse_tail(parse_args(all_options(*cmd), words), ctx);
  };
  auto t = parse({});
  CHECK(t.params
        == nlohmann::json{{"type", "by_stream"},
                          {"selector", "$all"},
                          {"start_from", "current"}});
  CHECK_FALSE(t.persistent);
  CHECK_FALSE(t.count);
  t = parse({"orders", "--stream", "o-1", "--from", "origin", "--count", "3"});
  CHECK(t.params
        == nlohmann::json{{"store", "orders"},
                          {"type", "by_stream"},
                          {"selector", "o-1"},
                          {"start_from", "origin"}});
  CHECK(t.count == 3);
  command_context in_store;
  in_store.store = "cur";
  t = parse({"--type", "X", "--from", "17", "--name", "audit"}, in_store);
  CHECK(t.params
        == nlohmann::json{{"store", "cur"},
                          {"type", "by_event_type"},
                          {"selector", "X"},
                          {"start_from", 17},
                          {"name", "audit"}});
  CHECK(t.persistent);
  CHECK(parse({"other"}, in_store).params["store"] == "other");
  CHECK_FALSE(parse({"--name", "transient"}).persistent);
  t = parse({"--pattern", R"({"event_type":"A","data":{"n":1}})"});
  CHECK(t.params["type"] == "by_event_pattern");
  CHECK(t.params["selector"]["data"]["n"] == 1);
  t = parse({"--payload", R"({"n":1})"});
  CHECK(t.params["type"] == "by_event_payload");
  CHECK(t.params["selector"] == nlohmann::json{{"n", 1}});
  CHECK_THROWS_AS(parse({"--type", "X", "--stream", "s"}), usage_error);
  CHECK_THROWS_AS(parse({"--pattern", "[1]"}), usage_error);
  CHECK_THROWS_AS(parse({"--payload", "{nope"}), usage_error);
  CHECK_THROWS_AS(parse({"--from", "start"}), usage_error);
  CHECK_THROWS_AS(parse({"--from", "-1"}), usage_error);
  CHECK_THROWS_AS(parse({"--count", "0"}), usage_error);
  CHECK_THROWS_AS(parse({"--count", "x"}), usage_error);
  CHECK_THROWS_AS(parse({"--name", ""}), usage_error);
  CHECK_THROWS_AS(parse({"--follow"}), usage_error);
  // The command table entry builds the same request.
  auto cmd = find_command("tail");
  auto req = cmd->build(parse_args(all_options(*cmd), {"--type", "X"}), {});
  CHECK(req.method == "save_subscription");
  CHECK(req.params["selector"] == "X");
}

TEST_CASE("top: append rates between refreshes, and its table") {
  auto sample = [](double at, int64_t last_position, int64_t events) {
    top_sample s;
    s.at_s = at;
    store_sample a;
    a.store = "a";
    a.status = {{"status", "running"}, {"leader", "n1"},
                {"events", events}, {"streams", 2},
                {"bytes", 3 * 1024 * 1024}, {"last_position", last_position}};
    a.max_lag = 7;
    store_sample b;
    b.store = "b";
    b.error = "unavailable: no leader";
    s.stores = {a, b};
    return s;
  };
  auto first = sample(10.0, 99, 100);
  auto rows = top_rows(nullptr, first);
  REQUIRE(rows.size() == 2);
  CHECK_FALSE(rows[0].appends_per_s); // nothing to compare with yet
  auto second = sample(12.0, 399, 300);
  rows = top_rows(&first, second);
  REQUIRE(rows[0].appends_per_s);
  CHECK(*rows[0].appends_per_s == doctest::Approx(150.0));
  CHECK_FALSE(rows[1].appends_per_s);
  std::ostringstream out;
  render_top(rows, out);
  CHECK(out.str().find("3.0 MiB") != std::string::npos);
  CHECK(out.str().find("150") != std::string::npos);
  CHECK(out.str().find("error: unavailable: no leader") != std::string::npos);
  auto j = top_json(rows);
  CHECK(j["stores"][0]["appends_per_s"] == 150.0);
  CHECK(j["stores"][0]["max_lag"] == 7);
  CHECK(j["stores"][1]["error"] == "unavailable: no leader");
  // No appends between two refreshes: 0.
  auto third = sample(13.0, 399, 10);
  rows = top_rows(&second, third);
  CHECK(*rows[0].appends_per_s == 0.0);
  auto parse = [](const strings& words) {
    return parse_top(parse_args(all_options(*find_command("top")), words));
  };
  CHECK(parse({}).interval_ms == top_interval_ms_default);
  CHECK(parse({"--count", "3"}).count == 3);
  CHECK_THROWS_AS(parse({"--interval-ms", "99"}), usage_error);
  CHECK_THROWS_AS(parse({"--interval-ms", "60001"}), usage_error);
  CHECK_THROWS_AS(parse({"--count", "0"}), usage_error);
}

TEST_CASE("tables align columns by code points") {
  table_printer t{{"store", "status"}};
  t.add_row({"b\xc3\xa4r", "running"}); // "bär": 3 code points, 4 bytes
  t.add_row({"x", "line\nbreak"});
  std::ostringstream out;
  t.print(out);
  CHECK(out.str()
        == " store | status\n"
           "-------+------------\n"
           " b\xc3\xa4r   | running\n"
           " x     | line break\n");
  table_printer narrow{{"c"}, 8};
  narrow.add_row({"0123456789"});
  narrow.add_row({"01234567"});
  std::ostringstream out2;
  narrow.print(out2);
  CHECK(out2.str() == " c\n----------\n 01234...\n 01234567\n");
}

TEST_CASE("error_text names the reason and the data fields") {
  auto err = nlohmann::json::parse(
    R"({"code":-32003,"message":"wrong version",
        "data":{"reason":"wrong_expected_version","current_version":4,
                "expected_version":1}})");
  CHECK(error_text(err)
        == "wrong_expected_version: wrong version (current_version: 4, "
           "expected_version: 1)");
  CHECK(error_text(nlohmann::json{{"code", -32601}, {"message", "m"}})
        == "method_not_found: m");
}

TEST_CASE("cluster renders cluster_status as a node and a store table") {
  auto cmd = find_command("cluster");
  REQUIRE(cmd != nullptr);
  auto req = cmd->build(parse_args(all_options(*cmd), {}), {});
  CHECK(req.method == "cluster_status");
  CHECK(req.params == nlohmann::json::object());
  CHECK_THROWS_AS(parse_args(all_options(*cmd), {"--store", "x"}),
                  usage_error);
  // The reply shape of protocol.md section 5, as node2 would answer it.
  auto reply = nlohmann::json::parse(R"({
    "node": "node2",
    "nodes": [
      {"name": "node1", "address": "127.0.0.1:7420", "status": "up",
       "self": false},
      {"name": "node2", "address": "127.0.0.1:7421", "status": "up",
       "self": true},
      {"name": "node3", "address": "127.0.0.1:7422", "status": "down",
       "self": false}],
    "stores": {
      "orders": {"leader": null, "members": ["node2", "node3"], "term": 7,
                 "commit_index": 0},
      "default": {"leader": "node1", "members": ["node1", "node2", "node3"],
                  "term": 2, "commit_index": 41}}})");
  std::ostringstream out;
  cmd->render(reply, req, out);
  CHECK(out.str()
        == "answered by node2\n"
           "\n"
           " node  | address        | status | self\n"
           "-------+----------------+--------+------\n"
           " node1 | 127.0.0.1:7420 | up     |\n"
           " node2 | 127.0.0.1:7421 | up     | *\n"
           " node3 | 127.0.0.1:7422 | down   |\n"
           "(3 nodes)\n"
           "\n"
           " store   | leader | members           | term | commit_index\n"
           "---------+--------+-------------------+------+--------------\n"
           " default | node1  | node1,node2,node3 | 2    | 41\n"
           " orders  | (none) | node2,node3       | 7    | 0\n"
           "(2 stores)\n");
  // A partial answer still prints both tables.
  std::ostringstream partial;
  cmd->render(nlohmann::json{{"nodes", nlohmann::json::array()}}, req,
              partial);
  CHECK(partial.str().find("(0 nodes)") != std::string::npos);
  CHECK(partial.str().find("(0 stores)") != std::string::npos);
}

TEST_CASE("completion offers commands, options and store names") {
  line_editor ed{"", [] { return strings{"default", "orders", "other"}; }};
  CHECK(ed.complete({}, "st")
        == strings{"stores", "store-status", "store-config", "streams",
                 "stream-meta"});
  CHECK(ed.complete({"use"}, "o") == strings{"orders", "other"});
  CHECK(ed.complete({"remove-store"}, "") == strings{"default", "orders",
                                                      "other"});
  CHECK(ed.complete({"remove-store", "orders"}, "o").empty());
  CHECK(ed.complete({"read", "--store"}, "d") == strings{"default"});
  CHECK(ed.complete({"read"}, "--b") == strings{"--backward"});
  CHECK(ed.complete({"help"}, "ver") == strings{"version"});
  CHECK(ed.complete({}, "ta") == strings{"tail"});
  CHECK(ed.complete({}, "back") == strings{"backup", "backups"});
  CHECK(ed.complete({}, "rest") == strings{"restore"});
  CHECK(ed.complete({}, "cl") == strings{"cluster"});
  CHECK(ed.complete({"tail"}, "--f") == strings{"--from"});
  CHECK(ed.complete({"tail"}, "o") == strings{"orders", "other"});
  CHECK(ed.complete({"tail", "--type", "X"}, "d") == strings{"default"});
  CHECK(ed.complete({"tail", "--from"}, "") == strings{"origin", "current"});
}

namespace {

/// A one-connection JSON-RPC server on 127.0.0.1 that answers each request
/// line with the lines `script` returns for it.
class scripted_server {
public:
  using script_fn = std::function<std::vector<std::string>(
    const nlohmann::json& request)>;

  explicit scripted_server(script_fn script) : script_(std::move(script)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len)
            == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(listen(listener_, 4) == 0);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~scripted_server() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }

  uint16_t port() const {
    return port_;
  }

private:
  void serve() {
    for (;;) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0)
        return;
      std::string buf;
      char tmp[4096];
      for (;;) {
        auto n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0)
          break;
        buf.append(tmp, static_cast<size_t>(n));
        size_t pos;
        while ((pos = buf.find('\n')) != std::string::npos) {
          auto req = nlohmann::json::parse(buf.substr(0, pos));
          buf.erase(0, pos + 1);
          for (auto& line : script_(req))
            send(fd, line.data(), line.size(), MSG_NOSIGNAL);
        }
      }
      close(fd);
    }
  }

  script_fn script_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string answer(const nlohmann::json& id, nlohmann::json result) {
  return nlohmann::json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}
           .dump()
         + "\n";
}

} // namespace

TEST_CASE("connection matches answers by id and takes id-null errors") {
  scripted_server srv{[](const nlohmann::json& req) {
    auto method = req["method"].get<std::string>();
    auto id = req["id"];
    if (method == "noisy") // a notification and a stale answer first
      return strings{
        R"({"jsonrpc":"2.0","method":"event","params":{}})" "\n",
        answer(-5, {{"stale", true}}), answer(id, {{"ok", 1}})};
    if (method == "big") // as the node answers too_large
      return strings{
        R"({"jsonrpc":"2.0","id":null,"error":{"code":-32008,"message":"m",)"
        R"("data":{"reason":"too_large","limit":10}}})" "\n"};
    if (method == "huge") // longer than json_client::message_bytes_max
      return strings{
        std::string(cxesdb::gateway::json_client::message_bytes_max + 2, 'x')};
    if (method == "silent")
      return strings{};
    return strings{answer(id, {{"method", method}})};
  }};
  connection conn{"127.0.0.1", srv.port(), 5000};
  auto res = conn.call("noisy", nlohmann::json::object());
  CHECK(res.status == call_status::ok);
  CHECK(res.body == nlohmann::json{{"ok", 1}});
  res = conn.call("big", nlohmann::json::object());
  CHECK(res.status == call_status::error);
  CHECK(res.body["data"]["reason"] == "too_large");
  res = conn.call("silent", nlohmann::json::object(), 100);
  CHECK(res.status == call_status::timeout);
  auto start = std::chrono::steady_clock::now();
  res = conn.call("huge", nlohmann::json::object(), 20000);
  // json_client closes the connection on a message over its limit (the
  // framing is lost), so this is a lost connection that names the limit.
  CHECK(res.status == call_status::disconnected);
  CHECK(res.text.find("64 MiB") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  // The next call reconnects and works.
  res = conn.call("health", nlohmann::json::object());
  CHECK(res.status == call_status::ok);
  CHECK(res.body["method"] == "health");
}

TEST_CASE("connection reports a refused connection") {
  connection conn{"127.0.0.1", 1, 1000};
  auto res = conn.call("health", nlohmann::json::object());
  CHECK(res.status == call_status::disconnected);
  CHECK(res.text.find("cannot connect") != std::string::npos);
}

TEST_CASE("session sorts failures into exit codes before connecting") {
  session_options opts;
  opts.port = 1; // nothing listens there
  opts.timeout_ms = 1000;
  std::ostringstream out, err;
  std::istringstream in;
  session sess{opts, out, err, in};
  CHECK(sess.run({"frob"}) == exit_code::usage);
  CHECK(sess.run({"append", "s", "--type", "\xff", "1"}) == exit_code::usage);
  CHECK(err.str().find("not valid UTF-8") != std::string::npos);
  CHECK(sess.run({"read", "s", "--count", "x"}) == exit_code::usage);
  CHECK(sess.run({"use", "x"}) == exit_code::usage); // one-shot mode
  CHECK(sess.run({"append", "s", "--file", "/nonexistent/f.json"})
        == exit_code::failed);
  CHECK(sess.run({"help", "read"}) == exit_code::ok);
  CHECK(out.str().find("usage: read STREAM") != std::string::npos);
  CHECK(sess.run({"health"}) == exit_code::connection);
  CHECK(err.str().find("error: connection_failed: ") != std::string::npos);
}

TEST_CASE("cluster one-shot prints the tables, or the raw JSON") {
  auto reply = nlohmann::json{
    {"node", "node1"},
    {"nodes",
     {{{"name", "node1"}, {"address", "a:1"}, {"status", "up"}, {"self", true}}}},
    {"stores",
     {{"default",
       {{"leader", "node1"}, {"members", {"node1"}}, {"term", 1},
        {"commit_index", 3}}}}}};
  scripted_server srv{[&](const nlohmann::json& req) {
    if (req["method"] == "cluster_status")
      return strings{answer(req["id"], reply)};
    return strings{answer(req["id"], nlohmann::json::object())};
  }};
  session_options opts;
  opts.port = srv.port();
  opts.timeout_ms = 5000;
  std::ostringstream err;
  std::istringstream in;
  { // the server takes one connection at a time: one session after the other
    std::ostringstream out;
    session sess{opts, out, err, in};
    CHECK(sess.run({"cluster"}) == exit_code::ok);
    CHECK(out.str().find(" node1 | a:1     | up     | *")
          != std::string::npos);
    CHECK(out.str().find(" default | node1  | node1   | 1    | 3")
          != std::string::npos);
  }
  std::ostringstream out;
  opts.json = true;
  session sess{opts, out, err, in};
  CHECK(sess.run({"cluster"}) == exit_code::ok);
  CHECK(nlohmann::json::parse(out.str()) == reply);
  out.str("");
  CHECK(sess.run({"cluster", "--json"}) == exit_code::ok);
  CHECK(nlohmann::json::parse(out.str()) == reply);
  CHECK(err.str().empty());
}
