// Durability of a single cxesdb-node: SIGKILL in the middle of appends from
// several connections, clean SIGTERM/SIGINT restarts, and the default store
// across restarts. Every acknowledged write must be found after a restart;
// every batch is all or nothing.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;

namespace {

/// One append batch a writer sent, and what it learned about it.
struct batch_record {
  enum outcome_t { acked, rejected, unknown };
  std::string store;
  std::string stream;
  std::vector<std::string> ids;
  json events;
  outcome_t outcome = unknown;
  int64_t version = -2;
  int64_t position = -2;
  std::string error; // for rejected batches
};

/// A store that a creator thread asked for.
struct store_record {
  std::string store;
  bool acked = false;
};

/// Snapshots one thread recorded and deleted (source_uuid = `source`).
struct snapshot_record {
  std::string source;
  std::set<int> present;    // acknowledged records not deleted since
  std::set<int> deleted;    // acknowledged deletes
  std::optional<int> in_flight; // the version of the unanswered call, if any
};

/// Everything the writers of all rounds sent.
struct ledger {
  std::mutex mtx;
  std::vector<batch_record> batches;
  std::vector<store_record> stores;
  std::vector<snapshot_record> snapshots;

  void add(batch_record rec) {
    std::lock_guard<std::mutex> guard{mtx};
    batches.push_back(std::move(rec));
  }
};

/// Appends batches of 1..8 events until the connection dies: to its own
/// stream with exact expected versions, and to a stream shared by all writers
/// with "any".
void writer_loop(json_client c, ledger& book, const std::string& store,
                 const std::string& prefix, int writer, std::atomic<bool>& stop,
                 std::atomic<int>& acked_count) {
  std::mt19937 rng{static_cast<unsigned>(writer * 7919 + 17)};
  auto own = prefix + "-w" + std::to_string(writer);
  int64_t own_version = -1;
  for (int n = 0; !stop; ++n) {
    batch_record rec;
    rec.store = store;
    bool shared = n % 3 == 2;
    rec.stream = shared ? prefix + "-shared" : own;
    auto size = 1 + rng() % 8;
    rec.events = json::array();
    for (size_t i = 0; i < size; ++i) {
      auto e = make_event("Written", {{"writer", writer}, {"n", n}, {"i", i}});
      rec.ids.push_back(e["event_id"].get<std::string>());
      rec.events.push_back(e);
    }
    json expected = shared ? json("any") : json(own_version);
    auto resp = c.call("append_events",
                       {{"store", store},
                        {"stream", rec.stream},
                        {"expected_version", expected},
                        {"events", rec.events}},
                       rpc_timeout_ms);
    if (!resp) { // connection lost: the outcome is unknown
      book.add(std::move(rec));
      return;
    }
    if (resp->contains("result")) {
      rec.outcome = batch_record::acked;
      rec.version = (*resp)["result"].value("version", int64_t{-2});
      auto pos = (*resp)["result"]["position"];
      rec.position = pos.is_number_integer() ? pos.get<int64_t>() : -2;
      if (!shared)
        own_version = rec.version;
      ++acked_count;
      book.add(std::move(rec));
    } else {
      std::string reason;
      if (auto& e = (*resp)["error"]; e.is_object() && e.contains("data")
                                       && e["data"].is_object())
        reason = e["data"].value("reason", "");
      rec.outcome = reason == "timeout" ? batch_record::unknown
                                        : batch_record::rejected;
      rec.error = resp->dump();
      book.add(std::move(rec));
      return; // our expected version is now uncertain: stop this writer
    }
  }
}

/// Creates stores `<prefix>_k0`, `<prefix>_k1`, ... until the connection
/// dies.
void creator_loop(json_client c, ledger& book, const std::string& prefix,
                  std::atomic<bool>& stop) {
  for (int n = 0; !stop && n < 1000; ++n) {
    store_record rec{prefix + "_k" + std::to_string(n), false};
    auto resp = c.call("create_store", {{"store", rec.store}}, rpc_timeout_ms);
    if (resp && resp->contains("result"))
      rec.acked = true;
    {
      std::lock_guard<std::mutex> guard{book.mtx};
      book.stores.push_back(rec);
    }
    if (!rec.acked)
      return;
  }
}

/// Records snapshots 0, 1, 2, ... of `source` in the default store and
/// deletes every third one's predecessor, until the connection dies.
void snapshot_loop(json_client c, ledger& book, const std::string& source,
                   std::atomic<bool>& stop) {
  snapshot_record rec;
  rec.source = source;
  for (int v = 0; !stop; ++v) {
    auto r = c.call("record_snapshot",
                    {{"source_uuid", source},
                     {"stream_uuid", "x"},
                     {"version", v},
                     {"data", {{"v", v}}}},
                    rpc_timeout_ms);
    if (!r || !r->contains("result")) {
      rec.in_flight = v;
      break;
    }
    rec.present.insert(v);
    if (v % 3 == 2) {
      r = c.call("delete_snapshot",
                 {{"source_uuid", source}, {"stream_uuid", "x"}, {"version", v - 1}},
                 rpc_timeout_ms);
      if (!r || !r->contains("result")) {
        rec.in_flight = v - 1;
        break;
      }
      rec.present.erase(v - 1);
      rec.deleted.insert(v - 1);
    }
  }
  std::lock_guard<std::mutex> guard{book.mtx};
  book.snapshots.push_back(std::move(rec));
}

/// Runs writers and a store creator for a while, then kills the node with
/// SIGKILL while they are busy.
void crash_round(node_process& node, ledger& book, const std::string& prefix) {
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  const std::vector<std::string> stores{"crash", "default"};
  // Each loop's connection is made here: node_process is not thread-safe,
  // and kill9 below changes it while the loops run.
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w, c = node.connect()]() mutable {
      writer_loop(std::move(c), book, stores[w % 2], prefix, w, stop, acked);
    });
  threads.emplace_back([&, c = node.connect()]() mutable {
    creator_loop(std::move(c), book, prefix, stop);
  });
  threads.emplace_back([&, c = node.connect()]() mutable {
    snapshot_loop(std::move(c), book, prefix + "-snap", stop);
  });
  // Let them write for a while, but make sure something was acknowledged.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  std::this_thread::sleep_for(std::chrono::milliseconds{1200});
  while (acked < 40 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  node.kill9();
  stop = true;
  for (auto& t : threads)
    t.join();
  MESSAGE("round " << prefix << ": " << acked.load()
                   << " batches acknowledged before SIGKILL");
  CHECK(acked >= 40);
}

/// Checks everything `book` knows against what the restarted node has.
void verify(node_process& node, ledger& book) {
  auto c = node.connect();
  std::map<std::string, std::map<std::string, json>> by_id; // store -> id
  for (auto store : {"crash", "default"}) {
    auto all = read_all_events(c, store);
    INFO("store " << store);
    std::map<std::string, int64_t> next_number;
    std::map<std::string, int64_t> last_position;
    for (size_t i = 0; i < all.size(); ++i) {
      auto& e = all[i];
      REQUIRE(e["position"] == i); // gapless positions from 0
      auto stream = e["stream_id"].get<std::string>();
      CHECK(e["event_number"] == next_number[stream]); // gapless numbers
      next_number[stream] = e["event_number"].get<int64_t>() + 1;
      auto id = e["event_id"].get<std::string>();
      CHECK_MESSAGE(by_id[store].count(id) == 0, "event id twice: " << id);
      by_id[store][id] = e;
    }
    for (auto& [stream, next] : next_number) {
      CHECK(ok(c, "get_version", {{"store", store}, {"stream", stream}})["version"]
            == next - 1);
      CHECK(stream_events(c, store, stream).size()
            == static_cast<size_t>(next));
    }
  }
  size_t acked = 0, unknown_present = 0, unknown_absent = 0;
  std::set<std::string> known_ids;
  for (auto& rec : book.batches) {
    INFO("batch to " << rec.store << "/" << rec.stream << " outcome "
                     << rec.outcome << " " << rec.error);
    auto& found = by_id[rec.store];
    size_t present = 0;
    for (auto& id : rec.ids) {
      known_ids.insert(id);
      present += found.count(id);
    }
    if (rec.outcome == batch_record::acked) {
      ++acked;
      REQUIRE(present == rec.ids.size()); // acknowledged: all there
    } else if (rec.outcome == batch_record::rejected) {
      CHECK(present == 0);
    } else {
      CHECK((present == 0 || present == rec.ids.size())); // all or nothing
      (present == 0 ? unknown_absent : unknown_present) += 1;
    }
    if (present != rec.ids.size())
      continue;
    // Written whole: consecutive numbers in its stream, in order, same data.
    auto first = found[rec.ids.front()]["event_number"].get<int64_t>();
    for (size_t i = 0; i < rec.ids.size(); ++i) {
      auto& e = found[rec.ids[i]];
      CHECK(e["stream_id"] == rec.stream);
      CHECK(e["event_number"] == first + static_cast<int64_t>(i));
      CHECK(e["data"] == rec.events[i]["data"]);
      CHECK(e["event_type"] == "Written");
    }
    if (rec.outcome == batch_record::acked) {
      auto& last = found[rec.ids.back()];
      CHECK(last["event_number"] == rec.version);
      CHECK(last["position"] == rec.position);
    }
  }
  // Nothing that nobody sent.
  for (auto& [store, events] : by_id)
    for (auto& [id, e] : events)
      if (e["event_type"] == "Written")
        CHECK_MESSAGE(known_ids.count(id) == 1, "unknown event " << e.dump());
  MESSAGE(acked << " acknowledged batches found; unacknowledged in flight: "
                << unknown_present << " written whole, " << unknown_absent
                << " absent");
  // Snapshots: acknowledged records and deletes survived.
  size_t snapshot_ops = 0;
  for (auto& rec : book.snapshots)
    snapshot_ops += rec.present.size() + 2 * rec.deleted.size();
  MESSAGE(snapshot_ops << " acknowledged snapshot records and deletes");
  CHECK(snapshot_ops > 0);
  for (auto& rec : book.snapshots) {
    INFO("snapshots of " << rec.source);
    auto r = ok(c, "list_snapshots", {{"source_uuid", rec.source}});
    std::set<int> found;
    for (auto& snap : r["snapshots"]) {
      auto v = snap["version"].get<int>();
      found.insert(v);
      CHECK(snap["data"] == json({{"v", v}}));
    }
    for (auto v : rec.present)
      if (v != rec.in_flight)
        CHECK_MESSAGE(found.count(v) == 1, "acknowledged snapshot " << v);
    for (auto v : rec.deleted)
      CHECK_MESSAGE(found.count(v) == 0, "deleted snapshot " << v);
    for (auto v : found)
      CHECK_MESSAGE((rec.present.count(v) == 1 || rec.in_flight == v),
                    "snapshot " << v << " nobody recorded");
  }
  // Stores: every acknowledged create survived and works.
  auto listed = ok(c, "list_stores")["stores"];
  for (auto& s : book.stores) {
    INFO("store " << s.store << (s.acked ? " (acknowledged)" : " (in flight)"));
    if (s.acked) {
      CHECK(listed.contains(s.store));
      CHECK(is_directory(node.data_dir() + "/" + s.store));
    }
    if (listed.contains(s.store)) {
      CHECK(listed[s.store]["status"] == "running");
      auto r = ok(c, "append_events",
                  {{"store", s.store}, {"stream", "x"}, {"events", make_events(1)}});
      CHECK(r["position"].is_number_integer());
    }
  }
}

} // namespace

TEST_CASE("SIGKILL during appends loses no acknowledged event") {
  node_process node;
  {
    auto c = node.connect();
    ok(c, "create_store", {{"store", "crash"}});
  }
  ledger book;
  for (int round = 1; round <= 2; ++round) {
    CAPTURE(round);
    crash_round(node, book, "r" + std::to_string(round));
    node.start(); // same data dir
    verify(node, book);
  }
  // Idempotent retries of acknowledged batches still answer with the
  // original result after the crashes.
  auto c = node.connect();
  int retried = 0;
  for (auto& rec : book.batches) {
    if (rec.outcome != batch_record::acked || retried >= 20)
      continue;
    ++retried;
    auto r = ok(c, "append_events", {{"store", rec.store},
                                     {"stream", rec.stream},
                                     {"events", rec.events}});
    CHECK(r == json({{"version", rec.version}, {"position", rec.position}}));
  }
  // Appends continue the numbering after the last event.
  auto all = read_all_events(c, "crash");
  auto r = ok(c, "append_events", {{"store", "crash"},
                                   {"stream", "after-crash"},
                                   {"expected_version", "no_stream"},
                                   {"events", make_events(3)}});
  CHECK(r == json({{"version", 2},
                   {"position", static_cast<int64_t>(all.size()) + 2}}));
  CHECK(stop_node(node) == 0);
}

TEST_CASE("SIGKILL with a torn tail in the node log: the tail is cut and "
          "every acknowledged event is there, with the log compacted and "
          "rolled throughout") {
  node_options opts;
  // Compaction and segment rolls many times per round.
  opts.extra_args = {"--compact-every-entries", "50",
                     "--compact-keep-entries", "5",
                     "--log-segment-bytes", "65536"};
  node_process node{opts};
  {
    auto c = node.connect();
    ok(c, "create_store", {{"store", "crash"}});
  }
  ledger book;
  std::mt19937 rng{20261207};
  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    crash_round(node, book, "t" + std::to_string(round));
    // A write cut short by the crash: random bytes, or a record header
    // whose payload never made it, after the last record.
    std::string segment;
    for (auto& f : std::filesystem::directory_iterator(node.data_dir()
                                                        + "/_log"))
      if (f.path().extension() == ".seg")
        segment = std::max(segment, f.path().string());
    REQUIRE(!segment.empty());
    std::string tail;
    if (round == 2) {
      tail = std::string("\x12\x34\x56\x78\x00\x10\x00\x00", 8)
             + std::string(100, 'p');
    } else {
      tail.resize(1 + rng() % 300);
      for (auto& ch : tail)
        ch = static_cast<char>(rng());
    }
    {
      std::ofstream f{segment, std::ios::app | std::ios::binary};
      f << tail;
    }
    node.start(); // same data dir
    CHECK(node.log().find("cut a torn tail of " + std::to_string(tail.size())
                          + " bytes")
          != std::string::npos);
    verify(node, book);
  }
  CHECK(stop_node(node) == 0);
}

TEST_CASE("a clean SIGTERM restart keeps stores, events and snapshots") {
  node_process node;
  auto c = node.connect();
  ok(c, "create_store",
     {{"store", "kept"},
      {"config", {{"description", "kept across restarts"}, {"tags", {"t1"}}}}});
  ok(c, "create_store", {{"store", "dropped"}});
  for (int i = 0; i < 20; ++i) {
    ok(c, "append_events", {{"store", "kept"},
                            {"stream", "s" + std::to_string(i % 4)},
                            {"events", make_events(1 + i % 3, "E", i)}});
    ok(c, "append_events",
       {{"stream", "d" + std::to_string(i % 2)}, {"events", make_events(2)}});
  }
  auto batch = make_events(2);
  auto first = ok(c, "append_events",
                  {{"store", "kept"}, {"stream", "idem"}, {"events", batch}});
  ok(c, "record_snapshot", {{"store", "kept"},
                            {"source_uuid", "src"},
                            {"stream_uuid", "s0"},
                            {"version", 4},
                            {"data", {{"state", "four"}}},
                            {"metadata", {{"m", 1}}},
                            {"source_type", "Agg"}});
  ok(c, "record_snapshot", {{"store", "kept"},
                            {"source_uuid", "src"},
                            {"stream_uuid", "s0"},
                            {"version", 9},
                            {"data", "nine"}});
  ok(c, "remove_store", {{"store", "dropped"}});
  CHECK(!is_directory(node.data_dir() + "/dropped"));

  auto stores_before = ok(c, "list_stores");
  auto kept_before = read_all_events(c, "kept");
  auto default_before = read_all_events(c, "default");
  auto streams_before = ok(c, "get_streams", {{"store", "kept"}});
  auto snaps_before = ok(c, "list_snapshots", {{"store", "kept"}});
  c.close();

  for (int restart = 0; restart < 2; ++restart) {
    CAPTURE(restart);
    if (restart == 0) {
      CHECK(stop_node(node) == 0); // SIGTERM: clean exit
    } else {
      // SIGINT is a clean shutdown, too.
      REQUIRE(node.running());
      ::kill(node.pid(), SIGINT);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
      while (node.running() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
      CHECK(!node.running());
      if (node.running())
        node.kill9();
      else
        CHECK(node.last_exit_status() == 0);
    }
    node.start();
    c = node.connect();
    CHECK(ok(c, "list_stores") == stores_before);
    CHECK(read_all_events(c, "kept") == kept_before);
    CHECK(read_all_events(c, "default") == default_before);
    CHECK(ok(c, "get_streams", {{"store", "kept"}}) == streams_before);
    CHECK(ok(c, "list_snapshots", {{"store", "kept"}}) == snaps_before);
    CHECK(ok(c, "read_snapshot",
             {{"store", "kept"}, {"source_uuid", "src"}, {"stream_uuid", "s0"}})
            ["snapshot"]["data"]
          == "nine");
    expect_not_found(c, "get_store_status", {{"store", "dropped"}}, "store");
    CHECK(!is_directory(node.data_dir() + "/dropped"));
    CHECK(is_directory(node.data_dir() + "/kept"));
    // Idempotence holds across restarts.
    CHECK(ok(c, "append_events",
             {{"store", "kept"}, {"stream", "idem"}, {"events", batch}})
          == first);
    CHECK(read_all_events(c, "kept").size() == kept_before.size());
    c.close();
  }
  c = node.connect();
  auto r = ok(c, "append_events",
              {{"store", "kept"}, {"stream", "s1"}, {"events", make_events(1)}});
  CHECK(r["position"] == kept_before.size());
  CHECK(stop_node(node) == 0);
}

TEST_CASE("the default store is created when missing and cannot be removed") {
  node_process node{[] {
    node_options opts;
    opts.extra_args = {"--default-store", "main"};
    return opts;
  }()};
  auto c = node.connect();
  auto stores = ok(c, "list_stores")["stores"];
  CHECK(stores.contains("main"));
  CHECK(is_directory(node.data_dir() + "/main"));
  ok(c, "append_events", {{"stream", "s"}, {"events", make_events(2)}});
  CHECK(ok(c, "get_version", {{"store", "main"}, {"stream", "s"}})["version"]
        == 1);
  err(c, "remove_store", {{"store", "main"}}, "forbidden");
  err(c, "remove_store", json::object(), "forbidden");
  CHECK(ok(c, "get_store_status", {{"store", "main"}})["status"] == "running");
  c.close();

  // Restarted with the usual default store "default", which is missing.
  node.options().extra_args.clear();
  node.restart();
  c = node.connect();
  stores = ok(c, "list_stores")["stores"];
  CHECK(stores.contains("default"));
  CHECK(stores.contains("main"));
  CHECK(is_directory(node.data_dir() + "/default"));
  CHECK(ok(c, "get_version", {{"store", "main"}, {"stream", "s"}})["version"]
        == 1);
  ok(c, "append_events", {{"stream", "in-default"}, {"events", make_events(1)}});
  CHECK(ok(c, "get_version", {{"store", "default"}, {"stream", "in-default"}})
          ["version"]
        == 0);
  err(c, "remove_store", {{"store", "default"}}, "forbidden");
  // "main" is an ordinary store now.
  CHECK(ok(c, "remove_store", {{"store", "main"}}) == json({{"removed", true}}));
  c.close();

  // After SIGKILL, too, the default store is there and still not removable.
  node.kill9();
  node.start();
  c = node.connect();
  stores = ok(c, "list_stores")["stores"];
  CHECK(stores.contains("default"));
  CHECK(!stores.contains("main"));
  CHECK(!is_directory(node.data_dir() + "/main"));
  CHECK(ok(c, "get_version", {{"store", "default"}, {"stream", "in-default"}})
          ["version"]
        == 0);
  err(c, "remove_store", {{"store", "default"}}, "forbidden");
  CHECK(stop_node(node) == 0);
}

TEST_CASE("SIGTERM with open client connections exits 0 promptly") {
  node_process node;
  auto idle = node.connect();
  expect_alive(idle);
  auto busy = node.connect();
  // A connection with a request in flight and half a request buffered.
  REQUIRE(busy.send_raw(
    json({{"jsonrpc", "2.0"},
          {"id", 1},
          {"method", "append_events"},
          {"params", {{"stream", "s"}, {"events", make_events(100)}}}})
      .dump()
    + "\n{\"jsonrpc\":\"2.0\",\"id\":2,"));
  node.options().stop_timeout = std::chrono::seconds{10};
  auto started = std::chrono::steady_clock::now();
  CHECK(stop_node(node) == 0);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - started)
              .count();
  MESSAGE("SIGTERM to exit: " << ms << " ms");
  // The clients see the connection closed.
  CHECK(!idle.read_line(5000).has_value());
  // And the data dir opens again.
  node.start();
  auto c = node.connect();
  auto v = ok(c, "get_version", {{"stream", "s"}})["version"];
  CHECK((v == -1 || v == 99)); // the in-flight batch: all or nothing
  c.close();
  CHECK(stop_node(node) == 0);
}

// A SIGKILL between making a store's directory and committing the store to
// the catalog leaves the directory behind; the node removes it at start-up.
TEST_CASE("after SIGKILL during create_store no orphan store directory remains") {
  node_process node;
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    ledger book;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
      threads.emplace_back([&, t, c = node.connect()]() mutable {
        creator_loop(std::move(c), book,
                     "o" + std::to_string(round) + std::to_string(t), stop);
      });
    std::this_thread::sleep_for(std::chrono::milliseconds{500 + 150 * round});
    node.kill9();
    stop = true;
    for (auto& t : threads)
      t.join();
    node.start();
    auto c = node.connect();
    auto listed = ok(c, "list_stores")["stores"];
    for (auto& s : book.stores)
      if (s.acked)
        CHECK_MESSAGE(listed.contains(s.store), "acknowledged " << s.store);
    static const std::regex store_re{"^[a-z][a-z0-9_]{0,62}$"};
    for (auto& entry : std::filesystem::directory_iterator(node.data_dir())) {
      auto name = entry.path().filename().string();
      if (entry.is_directory() && std::regex_match(name, store_re))
        CHECK_MESSAGE(listed.contains(name),
                      "directory " << name << " of no listed store");
    }
    for (auto& [id, _] : listed.items())
      CHECK_MESSAGE(is_directory(node.data_dir() + "/" + id),
                    "listed store " << id << " has no directory");
  }
  CHECK(stop_node(node) == 0);
}
