// A store's figures (get_store_status, /metrics): the counts the state
// machine keeps in its own transactions, what store_figures_query reads,
// their encoding between nodes, and the subscription checkpoints /metrics
// computes lags from.

#include <doctest/doctest.h>

#include <cstdio>
#include <limits>
#include <unistd.h>

#include "stores/codec.hpp"
#include "stores/state_machine.hpp"
#include "stores/store_metrics.hpp"

using namespace cxesdb::stores;

namespace {

std::string uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-7000-8000-%012d", i);
  return buf;
}

constexpr expected_version any{expected_version::any, -1};

/// A store in a temporary directory, removed at the end.
struct file_fixture {
  std::string dir;
  std::string path;
  std::unique_ptr<sqlite_db> db;
  std::unique_ptr<state_machine> sm;
  int next_id = 1;

  file_fixture() {
    char tmpl[] = "/tmp/cxesdb-figures-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/store.db";
    open();
  }

  ~file_fixture() {
    sm.reset();
    db.reset();
    for (auto suffix : {"", "-wal", "-shm"})
      std::remove((path + suffix).c_str());
    rmdir(dir.c_str());
  }

  void open() {
    sm.reset();
    db = open_store_db(path);
    sm = std::make_unique<state_machine>(*db);
  }

  command_result apply(command cmd) {
    auto rs = sm->apply_batch(sm->applied_index() + 1, {std::move(cmd)});
    REQUIRE(rs.size() == 1);
    return rs[0];
  }

  command_result append(const std::string& stream, int n) {
    std::vector<event_input> events;
    for (int i = 0; i < n; ++i)
      events.push_back(event_input{uuid(next_id++), "T", "{}", "null",
                                   "application/json"});
    return apply(append_cmd{stream, any, std::move(events), 1});
  }

  /// What a reader on its own connection sees.
  query_result read_figures() {
    auto reader = open_store_reader_db(path);
    store_queries q{*reader};
    return q.run(store_figures_query{});
  }

  std::pair<int64_t, int64_t> counts() const {
    return {sm->figures().events, sm->figures().streams};
  }
};

using pair = std::pair<int64_t, int64_t>;

} // namespace

TEST_CASE_FIXTURE(file_fixture, "figures follow appends, deletes and "
                                "scavenges, and survive a reopen") {
  CHECK(counts() == pair{0, 0});
  append("a", 3);
  append("b", 2);
  append("a", 1);
  CHECK(counts() == pair{6, 2});
  // A soft delete takes the stream away; its events stay until a scavenge.
  apply(delete_stream_cmd{"a", any, false});
  CHECK(counts() == pair{6, 1});
  // Deleting it again changes nothing more.
  apply(delete_stream_cmd{"a", any, false});
  CHECK(counts() == pair{6, 1});
  // An append recreates it.
  append("a", 1);
  CHECK(counts() == pair{7, 2});
  apply(delete_stream_cmd{"b", any, true});
  CHECK(counts() == pair{7, 1});
  // A hard-deleted stream refuses appends: nothing counts.
  CHECK(append("b", 1).code == result_code::stream_deleted);
  CHECK(counts() == pair{7, 1});
  // A failed command within a batch leaves the figures as they were.
  auto rs = sm->apply_batch(sm->applied_index() + 1,
                            {append_cmd{"c", {expected_version::exact, 5},
                                        {event_input{uuid(900), "T", "{}",
                                                     "null", "x"}},
                                        1}});
  CHECK(rs[0].code == result_code::wrong_expected_version);
  CHECK(counts() == pair{7, 1});
  // The scavenger deletes the removed rows (the store's last event stays).
  auto step = apply(scavenge_cmd{100, 0, false, 1});
  CHECK(step.removed == 6);
  CHECK(counts() == pair{1, 1});

  auto f = read_figures();
  REQUIRE(f.code == result_code::ok);
  CHECK(f.figures.events == 1);
  CHECK(f.figures.streams == 1);
  CHECK(f.head_position == 6);
  CHECK(f.figures.applied_index
        == static_cast<int64_t>(sm->applied_index()));
  CHECK(f.figures.bytes > 0);
  CHECK(f.figures.bytes == store_disk_bytes(path));

  open();
  CHECK(counts() == pair{1, 1});
}

TEST_CASE_FIXTURE(file_fixture, "a store from before the figures table is "
                                "counted once when opened") {
  append("a", 2);
  append("b", 3);
  apply(delete_stream_cmd{"b", any, false});
  sm.reset();
  db->exec("DROP TABLE figures");
  // A reader of the older store counts for itself.
  auto f = read_figures();
  CHECK(f.figures.events == 5);
  CHECK(f.figures.streams == 1);
  open();
  CHECK(counts() == pair{5, 1});
  append("c", 1);
  CHECK(counts() == pair{6, 2});
  CHECK(read_figures().figures.events == 6);
}

TEST_CASE("store figures travel between nodes through the codec") {
  auto q = decode_query(encode(query{store_figures_query{}}));
  REQUIRE(q);
  CHECK(std::holds_alternative<store_figures_query>(*q));
  query_result r;
  r.head_position = 41;
  r.figures = store_figures_result{42, 7, 4096, 99};
  auto back = decode_query_result(encode(r));
  REQUIRE(back);
  CHECK(back->head_position == 41);
  CHECK(back->figures.events == 42);
  CHECK(back->figures.streams == 7);
  CHECK(back->figures.bytes == 4096);
  CHECK(back->figures.applied_index == 99);
  // Other results keep the bytes of before the figures (an older node in
  // the cluster reads them), and decode with no figures.
  query_result plain;
  plain.version = 3;
  auto bytes = encode(plain);
  auto with_figures = plain;
  with_figures.figures = store_figures_result{42, 7, 4096, 99};
  CHECK(encode(with_figures).size() == bytes.size() + 4 * 8);
  auto decoded = decode_query_result(bytes);
  REQUIRE(decoded);
  CHECK(decoded->version == 3);
  CHECK(decoded->figures.applied_index == 0);
}

TEST_CASE("subscription lags: the store's last position less each watched "
          "checkpoint, never below 0") {
  store_metrics metrics;
  auto c = metrics.of("s", "/nonexistent/store.db");
  c->last_position.store(100);
  auto a = c->watch("a");
  auto b = c->watch("b");
  a->store(90);
  // b has not published yet: no lag.
  auto figures = metrics.figures();
  REQUIRE(figures.size() == 1);
  CHECK(figures[0].bytes == 0);
  using lags = std::vector<std::pair<std::string, int64_t>>;
  CHECK(figures[0].subscription_lags == lags{{"a", 10}, {"b", 0}});
  b->store(100);
  a->store(120); // ahead of what this replica applied: 0, not negative
  CHECK(metrics.figures()[0].subscription_lags == lags{{"a", 0}, {"b", 0}});
  // A stopped emitter takes its subscription away, unless a newer one of
  // the same id replaced it.
  auto a2 = c->watch("a");
  c->unwatch("a", a);
  c->unwatch("b", b);
  CHECK(metrics.figures()[0].subscription_lags.size() == 1);
  c->unwatch("a", a2);
  CHECK(metrics.figures()[0].subscription_lags.empty());
  // The same counters come back for the same store.
  CHECK(metrics.of("s", "/nonexistent/store.db").get() == c.get());
  metrics.forget("s");
  CHECK(metrics.figures().empty());
}
