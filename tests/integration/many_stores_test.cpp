// Many stores on one cxesdb-node: 200 stores created from several
// connections at once, used, removed, and listed again after restarts; their
// directories follow create and remove.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <dirent.h>
#include <thread>

#include "tests/integration/test_support.hpp"

using namespace cxesdb::tests;

namespace {

constexpr int store_count = 200;
constexpr int creator_threads = 4;

std::string store_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "m%03d", i);
  return buf;
}

/// Open file descriptors of a process (for the report only).
int fd_count(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/fd";
  auto dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return -1;
  int n = 0;
  while (::readdir(dir) != nullptr)
    ++n;
  ::closedir(dir);
  return n - 2;
}

/// Checks that store `i` holds exactly the two events written to it.
void check_store_contents(json_client& c, int i) {
  auto store = store_name(i);
  CAPTURE(store);
  auto got = ok(c, "get_events", {{"store", store}, {"stream", "s"}});
  REQUIRE(got["events"].size() == 2);
  CHECK(got["events"][0]["data"] == json({{"store", i}, {"n", 0}}));
  CHECK(got["events"][1]["data"] == json({{"store", i}, {"n", 1}}));
  CHECK(got["events"][1]["position"] == 1);
  CHECK(ok(c, "get_version", {{"store", store}, {"stream", "s"}})["version"]
        == 1);
}

} // namespace

TEST_CASE("200 stores: create, use, list, remove, restart") {
  node_process node;
  auto started = std::chrono::steady_clock::now();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < creator_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto c = node.connect();
        for (int i = t; i < store_count; i += creator_threads) {
          auto store = store_name(i);
          auto r = c.call("create_store",
                          {{"store", store},
                           {"config", {{"description", "store " + store}}}},
                          rpc_timeout_ms);
          if (!r || !r->contains("result")) {
            ++failures;
            MESSAGE("create_store " << store << ": "
                                    << (r ? r->dump() : "no answer"));
            continue;
          }
          json events = json::array({make_event("E", {{"store", i}, {"n", 0}}),
                                     make_event("E", {{"store", i}, {"n", 1}})});
          r = c.call("append_events",
                     {{"store", store},
                      {"stream", "s"},
                      {"expected_version", "no_stream"},
                      {"events", events}},
                     rpc_timeout_ms);
          if (!r || !r->contains("result")
              || (*r)["result"] != json({{"version", 1}, {"position", 1}})) {
            ++failures;
            MESSAGE("append to " << store << ": "
                                 << (r ? r->dump() : "no answer"));
          }
          r = c.call("get_events", {{"store", store}, {"stream", "s"}},
                     rpc_timeout_ms);
          if (!r || !r->contains("result")
              || (*r)["result"]["events"].size() != 2) {
            ++failures;
            MESSAGE("read of " << store << ": "
                               << (r ? r->dump() : "no answer"));
          }
        }
      } catch (const std::exception& ex) {
        ++failures;
        MESSAGE("creator thread " << t << ": " << ex.what());
      }
    });
  }
  for (auto& th : threads)
    th.join();
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  MESSAGE("created and used " << store_count << " stores in "
                              << elapsed.count() << " ms; node has "
                              << fd_count(node.pid()) << " open fds");
  REQUIRE(failures == 0);

  auto c = node.connect();
  auto stores = ok(c, "list_stores")["stores"];
  CHECK(stores.size() == store_count + 1); // and the default store
  for (int i = 0; i < store_count; ++i) {
    auto store = store_name(i);
    CAPTURE(store);
    REQUIRE(stores.contains(store));
    CHECK(stores[store]["status"] == "running");
    CHECK(stores[store]["config"]["description"] == "store " + store);
    CHECK(is_directory(node.data_dir() + "/" + store));
  }
  // Each store is its own log: writes to one do not move another's positions.
  for (int i = 0; i < store_count; i += 37)
    check_store_contents(c, i);
  c.close();

  // A clean restart: all stores are listed again and hold their events.
  CHECK(stop_node(node) == 0);
  node.start();
  c = node.connect();
  stores = ok(c, "list_stores")["stores"];
  CHECK(stores.size() == store_count + 1);
  for (int i = 0; i < store_count; ++i) {
    REQUIRE(stores.contains(store_name(i)));
    check_store_contents(c, i);
  }
  MESSAGE("after reading all stores the node has " << fd_count(node.pid())
                                                   << " open fds");

  // Remove every other store: their directories go, the rest stay.
  for (int i = 0; i < store_count; i += 2) {
    CHECK(ok(c, "remove_store", {{"store", store_name(i)}})
          == json({{"removed", true}}));
    CHECK(!is_directory(node.data_dir() + "/" + store_name(i)));
  }
  stores = ok(c, "list_stores")["stores"];
  CHECK(stores.size() == store_count / 2 + 1);
  c.close();

  // After SIGKILL the removals are still in effect.
  node.kill9();
  node.start();
  c = node.connect();
  stores = ok(c, "list_stores")["stores"];
  CHECK(stores.size() == store_count / 2 + 1);
  CHECK(stores.contains("default"));
  for (int i = 0; i < store_count; ++i) {
    auto store = store_name(i);
    CAPTURE(store);
    if (i % 2 == 0) {
      CHECK(!stores.contains(store));
      CHECK(!is_directory(node.data_dir() + "/" + store));
      expect_not_found(c, "get_events", {{"store", store}, {"stream", "s"}},
                       "store");
    } else {
      CHECK(stores.contains(store));
      CHECK(is_directory(node.data_dir() + "/" + store));
      check_store_contents(c, i);
    }
  }
  // A removed store can be created again, empty.
  ok(c, "create_store", {{"store", store_name(0)}});
  CHECK(ok(c, "get_version", {{"store", store_name(0)}, {"stream", "s"}})
          ["version"]
        == -1);
  CHECK(stop_node(node) == 0);
}

// --max-stores counts the stores a client can use: the default store and the
// ones created, not the catalog's own group nor removed stores. At the limit
// create_store is refused and nothing is created; a removal makes room again.
TEST_CASE("--max-stores: refused at the limit, room again after a removal") {
  node_options opts;
  opts.extra_args = {"--max-stores", "3"};
  node_process node{opts};
  auto c = node.connect();
  auto append_one = [&](const std::string& store) {
    json events = json::array({make_event("E", {{"store", store}})});
    ok(c, "append_events",
       {{"store", store}, {"stream", "s"}, {"events", events}});
  };
  ok(c, "create_store", {{"store", "a"}});
  ok(c, "create_store", {{"store", "b"}});
  append_one("a");
  append_one("b");
  err(c, "create_store", {{"store", "c"}}, "overloaded");
  expect_not_found(c, "get_store_status", {{"store", "c"}}, "store");
  // Each removal and re-creation leaves a tombstone in the catalog; none of
  // them counts.
  std::string last = "b";
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    auto next = "b" + std::to_string(round);
    ok(c, "remove_store", {{"store", last}});
    ok(c, "create_store", {{"store", next}});
    append_one(next);
    err(c, "create_store", {{"store", "c"}}, "overloaded");
    last = next;
  }
  auto listed = ok(c, "list_stores")["stores"];
  CHECK(listed.size() == 3);
}
