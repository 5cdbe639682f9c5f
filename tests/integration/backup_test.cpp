// Integration tests of store backup and restore (protocol.md section 10)
// against a real cxesdb-node on 127.0.0.1: backup_store while the store
// serves, list_backups, restore_store into a new store with exactly the
// backup's events, streams, snapshots, subscriptions and metadata, across a
// restart, the limits (--max-backups, the name pattern) and bad input.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <openssl/sha.h>
#include <sys/stat.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <thread>
#include <vector>

#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;

namespace {

/// One node shared by the cases; each case works in its own stores and
/// backup names.
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

json append(json_client& c, const std::string& store, const std::string& stream,
            size_t n) {
  return ok(c, "append_events", {{"store", store},
                                 {"stream", stream},
                                 {"expected_version", "any"},
                                 {"events", make_events(n)}});
}

/// The subscriptions of a store without their live subscriber counts.
json subscriptions(json_client& c, const std::string& store) {
  auto r = ok(c, "get_subscriptions", {{"store", store}});
  for (auto& s : r["subscriptions"])
    s.erase("subscribers");
  return r["subscriptions"];
}

/// Fills `store` with a bit of everything section 10 says a backup holds:
/// events in several streams, a soft- and a hard-deleted stream, a
/// truncated one, stream metadata, snapshots and a persistent subscription
/// with a checkpoint.
void fill(node_process& node, const std::string& store) {
  auto c = connect(node);
  ok(c, "create_store", {{"store", store},
                         {"config",
                          {{"description", "the original"},
                           {"tags", {"a", "b"}},
                           {"timeout_ms", 7000}}}});
  append(c, store, "orders", 5);
  append(c, store, "soft", 2);
  append(c, store, "hard", 2);
  append(c, store, "cut", 4);
  append(c, store, "orders", 3);
  ok(c, "delete_stream", {{"store", store}, {"stream", "soft"}});
  ok(c, "delete_stream", {{"store", store}, {"stream", "hard"}, {"hard", true}});
  ok(c, "truncate_stream", {{"store", store}, {"stream", "cut"}, {"before", 2}});
  ok(c, "set_stream_metadata", {{"store", store},
                                {"stream", "orders"},
                                {"max_count", 6},
                                {"custom", {{"owner", "billing"}}}});
  for (int version = 0; version < 2; ++version)
    ok(c, "record_snapshot", {{"store", store},
                              {"source_uuid", "src-1"},
                              {"stream_uuid", "orders"},
                              {"version", version},
                              {"data", {{"total", version * 10}}}});
  auto sub = connect(node);
  ok(sub, "save_subscription", {{"store", store},
                                {"type", "by_stream"},
                                {"selector", "$all"},
                                {"name", "billing"},
                                {"start_from", "origin"}});
  // acknowledge position 3 once it was delivered
  for (;;) {
    auto m = read_json(sub);
    if (m.value("method", "") == "event"
        && m["params"]["event"]["position"] == 3)
      break;
  }
  ok(sub, "ack_event", {{"store", store},
                        {"subscription", "billing"},
                        {"position", 3}});
  sub.close();
  // the checkpoint goes through the store's log after the ack's answer:
  // wait until it is there
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (subscriptions(c, store).at(0).value("checkpoint", -1) != 3) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "the checkpoint never reached 3: "
                      << subscriptions(c, store).dump());
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Everything a client can read of a store, for comparing two stores.
json contents(json_client& c, const std::string& store) {
  json out;
  out["all"] = read_all_events(c, store);
  out["streams"] = ok(c, "get_streams", {{"store", store}});
  for (auto s : {"orders", "soft", "cut"}) {
    out["events"][s] = ok(c, "get_events", {{"store", store}, {"stream", s}});
    out["meta"][s]
      = ok(c, "get_stream_metadata", {{"store", store}, {"stream", s}});
  }
  out["snapshots"] = ok(c, "list_snapshots", {{"store", store}});
  out["snapshot"] = ok(c, "read_snapshot", {{"store", store},
                                            {"source_uuid", "src-1"},
                                            {"stream_uuid", "orders"}});
  out["subscriptions"] = subscriptions(c, store);
  return out;
}

int64_t file_size(const std::string& path) {
  struct stat st {};
  REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, "no file " << path);
  return static_cast<int64_t>(st.st_size);
}

json find_backup(json_client& c, const std::string& name) {
  auto all = ok(c, "list_backups");
  for (auto& b : all["backups"])
    if (b["name"] == name)
      return b;
  FAIL("no backup " << name << " in list_backups");
  return {};
}

} // namespace

TEST_CASE("restore_store makes a new store with exactly the backup's events, "
          "streams, snapshots, subscriptions and metadata") {
  auto& node = the_node();
  fill(node, "orig");
  auto c = connect(node);
  auto before = contents(c, "orig");
  auto last = read_all_events(c, "orig").back()["position"].get<int64_t>();

  auto b = ok(c, "backup_store", {{"store", "orig"}, {"name", "orig_1"}});
  CHECK(b["backup"] == "orig_1");
  CHECK(b["last_position"] == last);
  CHECK(b["bytes"].get<int64_t>() > 0);
  // the backup's files: under <data-dir>/_backups by default
  CHECK(file_size(node.data_dir() + "/_backups/orig_1.db") == b["bytes"]);

  // the original changes on after the backup; the copy does not
  append(c, "orig", "orders", 2);
  ok(c, "delete_stream", {{"store", "orig"}, {"stream", "cut"}});

  auto r = ok(c, "restore_store", {{"store", "copy"}, {"backup", "orig_1"}});
  CHECK(r["store"] == "copy");
  CHECK(r["status"] == "running");
  CHECK(r["config"]["description"] == "the original");
  CHECK(r["config"]["tags"] == json{"a", "b"});
  CHECK(r["config"]["timeout_ms"] == 7000);
  CHECK(contents(c, "copy") == before);
  err(c, "get_version", {{"store", "copy"}, {"stream", "hard"}},
      "stream_deleted");
  CHECK(ok(c, "get_version", {{"store", "copy"}, {"stream", "soft"}})["version"]
        == -1);

  // the restored store is a store like any other: it takes writes, its
  // positions going on after the backup's, and a persistent subscription
  // resumes after its checkpoint
  auto w = append(c, "copy", "orders", 1);
  CHECK(w["position"] == last + 1);
  auto sub = connect(node);
  auto s = ok(sub, "save_subscription", {{"store", "copy"},
                                         {"type", "by_stream"},
                                         {"selector", "$all"},
                                         {"name", "billing"}});
  CHECK(s["checkpoint"] == 3);
  auto m = read_json(sub);
  while (m.value("method", "") != "event")
    m = read_json(sub);
  CHECK(m["params"]["event"]["position"].get<int64_t>() > 3);
  // and the original did not change by the restore
  CHECK(ok(c, "get_store_config", {{"store", "orig"}})["config"]["description"]
        == "the original");
  CHECK(ok(c, "list_stores")["stores"].contains("copy"));
}

TEST_CASE("list_backups shows each backup's name, store, size, last position "
          "and time") {
  auto c = connect(the_node());
  ok(c, "create_store", {{"store", "listed"}});
  append(c, "listed", "s", 3);
  auto b = ok(c, "backup_store", {{"store", "listed"}, {"name", "listed_a"}});
  append(c, "listed", "s", 2);
  ok(c, "backup_store", {{"store", "listed"}, {"name", "listed_b"}});
  auto a = find_backup(c, "listed_a");
  CHECK(a["store"] == "listed");
  CHECK(a["bytes"] == b["bytes"]);
  CHECK(a["last_position"] == 2);
  CHECK(find_backup(c, "listed_b")["last_position"] == 4);
  CHECK(std::regex_match(
    a["created"].get<std::string>(),
    std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"}));
  std::vector<std::string> keys;
  for (auto& kv : a.items())
    keys.push_back(kv.key());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"bytes", "created", "last_position",
                                         "name", "store"});
  // an empty store: last_position -1; backup without `store`: the default
  ok(c, "create_store", {{"store", "empty"}});
  CHECK(ok(c, "backup_store", {{"store", "empty"}, {"name", "empty_a"}})
          ["last_position"]
        == -1);
  CHECK(ok(c, "backup_store", {{"name", "default_a"}})["backup"] == "default_a");
  CHECK(find_backup(c, "default_a")["store"] == "default");
  // an empty store restores to an empty store
  ok(c, "restore_store", {{"store", "empty_copy"}, {"backup", "empty_a"}});
  CHECK(read_all_events(c, "empty_copy").empty());
  CHECK(append(c, "empty_copy", "s", 1)["position"] == 0);
}

TEST_CASE("a backup taken while appends go on is consistent") {
  auto& node = the_node();
  auto c = connect(node);
  ok(c, "create_store", {{"store", "busy"}});
  append(c, "busy", "s", 10);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> appended{0};
  std::thread writer{[&] {
    auto w = connect(node);
    while (!stop) {
      auto resp = w.call("append_events",
                         {{"store", "busy"},
                          {"stream", "s"},
                          {"expected_version", "any"},
                          {"events", make_events(5)}},
                         rpc_timeout_ms);
      if (!resp || !resp->contains("result"))
        break;
      appended += 5;
    }
  }};
  while (appended < 50)
    std::this_thread::yield();
  auto b = ok(c, "backup_store", {{"store", "busy"}, {"name", "busy_1"}});
  stop = true;
  writer.join();
  ok(c, "restore_store", {{"store", "busy_copy"}, {"backup", "busy_1"}});
  auto copy = read_all_events(c, "busy_copy");
  auto orig = read_all_events(c, "busy");
  REQUIRE(!copy.empty());
  // the copy is a prefix of the original up to the backup's last position,
  // whole batches only (one append is one transaction)
  CHECK(copy.back()["position"] == b["last_position"]);
  CHECK(copy.size() % 5 == 0);
  REQUIRE(copy.size() <= orig.size());
  for (size_t i = 0; i < copy.size(); ++i)
    REQUIRE(copy[i] == orig[i]);
}

TEST_CASE("backup and restore refuse bad input and say why") {
  auto c = connect(the_node());
  ok(c, "create_store", {{"store", "bad"}});
  append(c, "bad", "s", 1);
  for (auto name : {"..", "../x", "a/b", "/tmp/x", "", "Upper", "1abc", "a.b",
                    "_sys"})
    expect_invalid(c, "backup_store", {{"store", "bad"}, {"name", name}},
                   "name");
  // the longest name is 63 bytes (the store id pattern)
  std::string longest = "b" + std::string(62, 'x');
  ok(c, "backup_store", {{"store", "bad"}, {"name", longest}});
  expect_invalid(c, "backup_store", {{"store", "bad"}, {"name", longest + "x"}},
                 "name");
  expect_invalid(c, "backup_store", {{"store", "bad"}, {"name", 7}}, "name");
  expect_invalid(c, "backup_store", {{"store", "bad"}}, "name");
  expect_invalid(c, "backup_store",
                 {{"store", "bad"}, {"name", "ok_name"}, {"force", true}},
                 "force");
  expect_not_found(c, "backup_store", {{"store", "nosuch"}, {"name", "n1"}},
                   "store");
  ok(c, "backup_store", {{"store", "bad"}, {"name", "bad_1"}});
  err(c, "backup_store", {{"store", "bad"}, {"name", "bad_1"}},
      "already_exists");

  // restoring onto an existing store is already_exists, and changes nothing
  err(c, "restore_store", {{"store", "bad"}, {"backup", "bad_1"}},
      "already_exists");
  err(c, "restore_store", {{"store", "default"}, {"backup", "bad_1"}},
      "already_exists");
  CHECK(read_all_events(c, "bad").size() == 1);
  expect_not_found(c, "restore_store", {{"store", "fresh"}, {"backup", "nope"}},
                   "backup");
  CHECK(!ok(c, "list_stores")["stores"].contains("fresh"));
  for (auto name : {"..", "../bad_1", "x/../bad_1", ""})
    expect_invalid(c, "restore_store", {{"store", "fresh"}, {"backup", name}},
                   "backup");
  expect_invalid(c, "restore_store", {{"backup", "bad_1"}}, "store");
  expect_invalid(c, "restore_store", {{"store", "Bad"}, {"backup", "bad_1"}},
                 "store");
  expect_invalid(c, "restore_store", {{"store", "fresh"}}, "backup");
  expect_invalid(c, "restore_store",
                 {{"store", "fresh"}, {"backup", "bad_1"}, {"config", {}}},
                 "config");
  expect_invalid(c, "list_backups", {{"name", "x"}}, "name");
  // after all that, a good restore works
  ok(c, "restore_store", {{"store", "fresh"}, {"backup", "bad_1"}});
  CHECK(read_all_events(c, "fresh").size() == 1);
  // a removed store's id can be restored again
  ok(c, "remove_store", {{"store", "fresh"}});
  ok(c, "restore_store", {{"store", "fresh"}, {"backup", "bad_1"}});
  CHECK(read_all_events(c, "fresh").size() == 1);
}

TEST_CASE("--max-backups limits the backups in the backup directory; "
          "--backup-dir moves it") {
  char tmpl[] = "/tmp/cxesdb-backups-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  auto dir = std::string{tmpl} + "/elsewhere";
  node_options opts;
  opts.extra_args = {"--max-backups", "2", "--backup-dir", dir};
  node_process node{opts};
  auto c = connect(node);
  ok(c, "backup_store", {{"name", "one"}});
  ok(c, "backup_store", {{"name", "two"}});
  auto data = err(c, "backup_store", {{"name", "three"}}, "too_large");
  CHECK(data["limit"] == 2);
  CHECK(ok(c, "list_backups")["backups"].size() == 2);
  CHECK(file_size(dir + "/one.db") > 0);
  CHECK(file_size(dir + "/one.json") > 0);
  // a backup of that node restores from there
  ok(c, "restore_store", {{"store", "from_elsewhere"}, {"backup", "one"}});
  std::filesystem::remove_all(tmpl);
}

TEST_CASE("backups and restored stores survive a restart") {
  node_process node;
  fill(node, "keep");
  auto c = connect(node);
  ok(c, "backup_store", {{"store", "keep"}, {"name", "keep_1"}});
  ok(c, "restore_store", {{"store", "kept"}, {"backup", "keep_1"}});
  auto before = contents(c, "kept");
  append(c, "kept", "after", 2);
  auto all_before = read_all_events(c, "kept");
  c.close();
  node.restart();
  c = connect(node);
  CHECK(read_all_events(c, "kept") == all_before);
  CHECK(find_backup(c, "keep_1")["store"] == "keep");
  CHECK(ok(c, "get_store_config", {{"store", "kept"}})["config"]["description"]
        == "the original");
  ok(c, "restore_store", {{"store", "kept_again"}, {"backup", "keep_1"}});
  CHECK(contents(c, "kept_again") == before);
}

namespace {

std::string sha256_hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (auto b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

} // namespace

TEST_CASE("with --auth-file, backups and restores are admin only") {
  char tmpl[] = "/tmp/cxesdb-backup-auth-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  auto auth = std::string{tmpl} + "/auth.json";
  const std::string admin = "backup-admin-token-0123";
  const std::string writer = "backup-writer-token-0123";
  {
    std::ofstream out{auth};
    out << json{{"users",
                 {{{"name", "ops"},
                   {"token_sha256", sha256_hex(admin)},
                   {"role", "admin"}},
                  {{"name", "app"},
                   {"token_sha256", sha256_hex(writer)},
                   {"stores", {{"*", "writer"}}}}}}}
             .dump();
  }
  node_options opts;
  opts.extra_args = {"--auth-file", auth};
  node_process node{opts};
  auto a = connect(node);
  ok(a, "authenticate", {{"token", admin}});
  auto w = connect(node);
  ok(w, "authenticate", {{"token", writer}});
  err(w, "backup_store", {{"name", "forbidden_1"}}, "forbidden");
  err(w, "list_backups", json::object(), "forbidden");
  ok(a, "backup_store", {{"name", "allowed_1"}});
  err(w, "restore_store", {{"store", "w_copy"}, {"backup", "allowed_1"}},
      "forbidden");
  CHECK(ok(a, "list_backups")["backups"].size() == 1);
  ok(a, "restore_store", {{"store", "a_copy"}, {"backup", "allowed_1"}});
  std::filesystem::remove_all(tmpl);
}
