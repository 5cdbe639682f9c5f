// The state machine's rules, on an in-memory SQLite database.

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "stores/state_machine.hpp"

using namespace cxesdb::stores;

namespace {

std::string uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-7000-8000-%012d", i);
  return buf;
}

event_input ev(int id, const std::string& type = "Tested") {
  return event_input{uuid(id), type, "{\"n\":" + std::to_string(id) + "}",
                     "null", "application/json"};
}

expected_version any() {
  return {expected_version::any, -1};
}

expected_version no_stream() {
  return {expected_version::no_stream, -1};
}

expected_version exists() {
  return {expected_version::stream_exists, -1};
}

expected_version exact(int64_t v) {
  return {expected_version::exact, v};
}

struct fixture {
  sqlite_db db{":memory:", sqlite_db::mode::read_write_create};
  state_machine sm{db};
  store_queries q{db};

  command_result apply(command cmd) {
    auto rs = sm.apply_batch(sm.applied_index() + 1, {std::move(cmd)});
    REQUIRE(rs.size() == 1);
    return rs[0];
  }

  command_result append(const std::string& stream, expected_version exp,
                        std::vector<event_input> events) {
    return apply(append_cmd{stream, exp, std::move(events), 1000});
  }

  std::vector<recorded_event> read(const std::string& stream, int64_t start,
                                   int64_t count, bool backward = false) {
    auto r = q.run(read_stream_query{stream, start, count, backward});
    REQUIRE(r.code == result_code::ok);
    return r.events;
  }

  std::vector<recorded_event> read_all(int64_t from, int64_t count,
                                       bool backward = false) {
    auto r = q.run(read_all_query{from, count, backward, ""});
    REQUIRE(r.code == result_code::ok);
    return r.events;
  }

  int64_t version(const std::string& stream) {
    return q.run(stream_version_query{stream}).version;
  }
};

} // namespace

TEST_CASE_FIXTURE(fixture, "a new stream has version -1 and no events") {
  CHECK(version("s") == -1);
  CHECK(read("s", 0, 100).empty());
  CHECK(read("s", -1, 100, true).empty());
}

TEST_CASE_FIXTURE(fixture, "expected version any always appends") {
  CHECK(append("s", any(), {ev(1)}).version == 0);
  CHECK(append("s", any(), {ev(2)}).version == 1);
  CHECK(version("s") == 1);
}

TEST_CASE_FIXTURE(fixture, "expected version no_stream and -1") {
  auto r = append("s", no_stream(), {ev(1)});
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 0);
  r = append("s", no_stream(), {ev(2)});
  CHECK(r.code == result_code::wrong_expected_version);
  CHECK(r.current_version == 0);
  // -1 is an exact version meaning "no events": the gateway maps it to
  // no_stream, and an exact -1 behaves the same.
  r = append("t", exact(-1), {ev(3)});
  CHECK(r.code == result_code::ok);
  r = append("t", exact(-1), {ev(4)});
  CHECK(r.code == result_code::wrong_expected_version);
}

TEST_CASE_FIXTURE(fixture, "expected version stream_exists") {
  auto r = append("s", exists(), {ev(1)});
  CHECK(r.code == result_code::wrong_expected_version);
  CHECK(r.current_version == -1);
  append("s", any(), {ev(2)});
  CHECK(append("s", exists(), {ev(3)}).code == result_code::ok);
}

TEST_CASE_FIXTURE(fixture, "exact expected version") {
  append("s", any(), {ev(1), ev(2)});
  auto r = append("s", exact(0), {ev(3)});
  CHECK(r.code == result_code::wrong_expected_version);
  CHECK(r.current_version == 1);
  r = append("s", exact(1), {ev(3)});
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 2);
  CHECK(r.position == 2);
}

TEST_CASE_FIXTURE(fixture, "positions are global and event numbers per stream") {
  append("a", any(), {ev(1), ev(2)});
  append("b", any(), {ev(3)});
  auto r = append("a", any(), {ev(4)});
  CHECK(r.version == 2);
  CHECK(r.position == 3);
  auto all = read_all(0, 100);
  REQUIRE(all.size() == 4);
  for (int64_t i = 0; i < 4; ++i)
    CHECK(all[i].position == i);
  CHECK(all[2].stream_id == "b");
  CHECK(all[2].event_number == 0);
  CHECK(all[3].event_number == 2);
}

TEST_CASE_FIXTURE(fixture, "an idempotent retry succeeds with the original result") {
  auto first = append("s", no_stream(), {ev(1), ev(2)});
  append("s", any(), {ev(3)});
  auto retry = append("s", no_stream(), {ev(1), ev(2)});
  CHECK(retry.code == result_code::ok);
  CHECK(retry.version == first.version);
  CHECK(retry.position == first.position);
  CHECK(read("s", 0, 100).size() == 3);
  CHECK(sm.next_position() == 3);
}

TEST_CASE_FIXTURE(fixture, "a partially duplicate batch fails and writes nothing") {
  append("s", any(), {ev(1), ev(2)});
  auto r = append("s", any(), {ev(2), ev(3)});
  CHECK(r.code == result_code::duplicate_event);
  r = append("s", any(), {ev(3), ev(1)});
  CHECK(r.code == result_code::duplicate_event);
  // all ids present but in another order: not the same batch
  r = append("s", any(), {ev(2), ev(1)});
  CHECK(r.code == result_code::duplicate_event);
  CHECK(version("s") == 1);
  CHECK(sm.next_position() == 2);
}

TEST_CASE_FIXTURE(fixture, "the same event id twice in one batch writes nothing") {
  append("s", any(), {ev(1)});
  auto r = append("s", any(), {ev(2), ev(3), ev(2)});
  CHECK(r.code == result_code::duplicate_event);
  CHECK(r.current_version == 0);
  CHECK(version("s") == 0);
  CHECK(sm.next_position() == 1);
}

TEST_CASE_FIXTURE(fixture, "event ids are unique per stream, not per store") {
  append("a", any(), {ev(1)});
  auto r = append("b", any(), {ev(1)});
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 0);
}

TEST_CASE_FIXTURE(fixture, "a failing batch is atomic") {
  append("s", any(), {ev(1)});
  // Wrong expected version: none of the three events is written.
  CHECK(append("s", exact(5), {ev(2), ev(3), ev(4)}).code
        == result_code::wrong_expected_version);
  // A storage failure in the middle of a batch (a trigger refuses the
  // second insert) rolls back the whole command but not the others of the
  // same transaction.
  db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON events WHEN "
          "NEW.event_id = '" + uuid(12) + "' BEGIN SELECT RAISE(ABORT, "
          "'refused'); END;");
  std::vector<command> cmds;
  cmds.push_back(append_cmd{"s", any(), {ev(10)}, 1});
  cmds.push_back(append_cmd{"s", any(), {ev(11), ev(12), ev(14)}, 1});
  cmds.push_back(append_cmd{"s", any(), {ev(13)}, 1});
  auto rs = sm.apply_batch(sm.applied_index() + 1, cmds);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].code == result_code::ok);
  CHECK(rs[1].code == result_code::storage_failed);
  CHECK(rs[2].code == result_code::ok);
  CHECK(rs[2].version == 2);
  CHECK(rs[2].position == 2);
  auto events = read("s", 0, 100);
  REQUIRE(events.size() == 3);
  CHECK(events[1].event_id == uuid(10));
  CHECK(events[2].event_id == uuid(13));
  CHECK(read_all(0, 100).size() == 3);
}

TEST_CASE_FIXTURE(fixture, "an empty append writes nothing and checks the version") {
  append("s", any(), {ev(1)});
  auto r = append("s", exact(0), {});
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 0);
  CHECK(r.position == -1);
  CHECK(append("s", exact(3), {}).code == result_code::wrong_expected_version);
}

TEST_CASE_FIXTURE(fixture, "forward and backward reads clip to the stream") {
  std::vector<event_input> evs;
  for (int i = 0; i < 10; ++i)
    evs.push_back(ev(i));
  append("s", any(), evs);
  auto f = read("s", 8, 5);
  REQUIRE(f.size() == 2);
  CHECK(f[0].event_number == 8);
  CHECK(f[1].event_number == 9);
  auto b = read("s", -1, 3, true); // from the end
  REQUIRE(b.size() == 3);
  CHECK(b[0].event_number == 9);
  CHECK(b[2].event_number == 7);
  b = read("s", 1, 5, true);
  REQUIRE(b.size() == 2);
  CHECK(b[0].event_number == 1);
  CHECK(b[1].event_number == 0);
  CHECK(read("s", 20, 5).empty());
  b = read("s", 50, 2, true); // past the end: from the last
  REQUIRE(b.size() == 2);
  CHECK(b[0].event_number == 9);
}

TEST_CASE_FIXTURE(fixture, "events keep what the client wrote") {
  event_input e{uuid(7), "Typed", "[1,\"x\",{\"y\":null}]", "{\"m\":1}",
                "application/json"};
  append("s", any(), {e});
  auto got = read("s", 0, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].event_id == e.event_id);
  CHECK(got[0].event_type == "Typed");
  CHECK(got[0].data == e.data);
  CHECK(got[0].metadata == e.metadata);
  CHECK(got[0].created_epoch_us == 1000);
}

TEST_CASE_FIXTURE(fixture, "read_all pages and its next position") {
  for (int i = 0; i < 5; ++i)
    append("s" + std::to_string(i % 2), any(), {ev(i)});
  auto r = q.run(read_all_query{0, 2, false, ""});
  CHECK(r.events.size() == 2);
  CHECK(r.next_position == 2);
  r = q.run(read_all_query{4, 10, false, ""});
  CHECK(r.events.size() == 1);
  CHECK(r.next_position == 5);
  r = q.run(read_all_query{5, 10, false, ""});
  CHECK(r.events.empty());
  CHECK(r.has_next);
  CHECK(r.next_position == 5);
  r = q.run(read_all_query{-1, 2, true, ""});
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0].position == 4);
  CHECK(r.next_position == 2);
  r = q.run(read_all_query{1, 5, true, ""});
  CHECK(r.events.size() == 2);
  CHECK_FALSE(r.has_next);
}

TEST_CASE_FIXTURE(fixture, "stream listing pages in byte order") {
  for (auto s : {"b", "a", "c", "B"})
    append(s, any(), {ev(static_cast<int>(s[0]))});
  auto r = q.run(list_streams_query{false, "", 2});
  CHECK(r.streams == std::vector<std::string>{"B", "a"});
  CHECK(r.has_next);
  CHECK(r.next_after == "a");
  r = q.run(list_streams_query{true, "a", 2});
  CHECK(r.streams == std::vector<std::string>{"b", "c"});
  CHECK_FALSE(r.has_next);
}

TEST_CASE_FIXTURE(fixture, "snapshots replace by key and read the latest") {
  auto snap = [](int64_t v, const std::string& data) {
    return record_snapshot_cmd{
      snapshot_record{"src", "st", v, "\"Agg\"", data, "null", 5}};
  };
  CHECK(apply(snap(1, "{\"v\":1}")).code == result_code::ok);
  CHECK(apply(snap(3, "{\"v\":3}")).code == result_code::ok);
  CHECK(apply(snap(1, "{\"v\":\"one\"}")).code == result_code::ok);
  auto r = q.run(read_snapshot_query{"src", "st", -1});
  REQUIRE(r.snapshots.size() == 1);
  CHECK(r.snapshots[0].version == 3);
  r = q.run(read_snapshot_query{"src", "st", 1});
  REQUIRE(r.snapshots.size() == 1);
  CHECK(r.snapshots[0].data == "{\"v\":\"one\"}");
  CHECK(q.run(read_snapshot_query{"src", "st", 2}).code
        == result_code::not_found);
  CHECK(q.run(list_snapshots_query{"src", ""}).snapshots.size() == 2);
  CHECK(q.run(list_snapshots_query{"", "other"}).snapshots.empty());
  CHECK(apply(delete_snapshot_cmd{"src", "st", 3}).code == result_code::ok);
  CHECK(apply(delete_snapshot_cmd{"src", "st", 3}).code
        == result_code::not_found);
  r = q.run(read_snapshot_query{"src", "st", -1});
  REQUIRE(r.snapshots.size() == 1);
  CHECK(r.snapshots[0].version == 1);
}

TEST_CASE_FIXTURE(fixture, "the applied index moves with every batch") {
  CHECK(sm.applied_index() == 0);
  std::vector<command> cmds(3, command{append_cmd{"s", any(), {}, 1}});
  sm.apply_batch(1, cmds);
  CHECK(sm.applied_index() == 3);
  auto s = db.prepare("SELECT idx FROM applied");
  REQUIRE(s.step());
  CHECK(s.int64(0) == 3);
}

TEST_CASE("a reopened store resumes its positions and applied index") {
  char tmpl[] = "/tmp/cxesdb-sm-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string path = std::string{tmpl} + "/store.db";
  {
    auto db = open_store_db(path);
    state_machine sm{*db};
    sm.apply_batch(1, {append_cmd{"s", any(), {ev(1), ev(2)}, 1}});
  }
  {
    auto db = open_store_db(path);
    state_machine sm{*db};
    CHECK(sm.applied_index() == 1);
    CHECK(sm.next_position() == 2);
    auto reader = open_store_reader_db(path);
    store_queries q{*reader};
    CHECK(q.run(stream_version_query{"s"}).version == 1);
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  rmdir(tmpl);
}

TEST_CASE_FIXTURE(fixture, "persistent subscriptions: create, find, checkpoint, remove") {
  append("s", any(), {ev(1), ev(2)});
  auto save = [&](const std::string& name, const std::string& selector,
                  start_from from) {
    return apply(save_subscription_cmd{name, "by_stream", selector, from});
  };
  // current: the checkpoint is the last position when the command applies
  auto r = save("a", "\"$all\"", {start_from::current, 0});
  CHECK(r.code == result_code::ok);
  CHECK(r.checkpoint == 1);
  CHECK(save("b", "\"$all\"", {start_from::origin, 0}).checkpoint == -1);
  CHECK(save("c", "\"$all\"", {start_from::position, 7}).checkpoint == 6);
  // the same definition again finds it, with its checkpoint
  r = save("a", "\"$all\"", {start_from::origin, 0});
  CHECK(r.code == result_code::ok);
  CHECK(r.checkpoint == 1);
  // the same name with another selector is refused
  CHECK(save("a", "\"s\"", {start_from::origin, 0}).code
        == result_code::already_exists);
  // checkpoints only move forward
  CHECK(apply(checkpoint_cmd{"b", 5}).checkpoint == 5);
  CHECK(apply(checkpoint_cmd{"b", 3}).checkpoint == 5);
  CHECK(apply(checkpoint_cmd{"zz", 3}).code == result_code::not_found);
  auto list = q.run(list_subscriptions_query{});
  REQUIRE(list.subscriptions.size() == 3);
  CHECK(list.subscriptions[1].name == "b");
  CHECK(list.subscriptions[1].checkpoint == 5);
  CHECK(apply(remove_subscription_cmd{"b", "by_stream", "\"s\""}).code
        == result_code::not_found);
  CHECK(apply(remove_subscription_cmd{"b", "by_stream", "\"$all\""}).code
        == result_code::ok);
  CHECK(q.run(list_subscriptions_query{}).subscriptions.size() == 2);
}

TEST_CASE_FIXTURE(fixture, "read_all of one stream from a position") {
  append("a", any(), {ev(1)});
  append("b", any(), {ev(2)});
  append("a", any(), {ev(3), ev(4)});
  auto r = q.run(read_all_query{1, 10, false, "a"});
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0].position == 2);
  CHECK(r.events[1].position == 3);
  CHECK(r.head_position == 3);
}

// The event id index: one column, so that time-ordered ids append to its
// last page (the idempotence check then filters by stream). A store made by
// an older version keeps its UNIQUE(stream_id, event_id) index and gets no
// second one; idempotence holds on both.
TEST_CASE("idempotence on the event id index, and on an older store's") {
  auto index_names = [](sqlite_db& db) {
    std::vector<std::string> out;
    auto s = db.prepare("SELECT COALESCE(sql, 'auto') FROM sqlite_master "
                        "WHERE type = 'index' AND tbl_name = 'events' "
                        "ORDER BY name");
    while (s.step())
      out.push_back(s.text(0));
    return out;
  };
  auto check_idempotence = [](sqlite_db& db) {
    state_machine sm{db};
    auto first = sm.apply_batch(sm.applied_index() + 1,
                                {append_cmd{"s", any(), {ev(1), ev(2)}, 1}});
    sm.apply_batch(sm.applied_index() + 1,
                   {append_cmd{"t", any(), {ev(1)}, 1}});
    auto again = sm.apply_batch(sm.applied_index() + 1,
                                {append_cmd{"s", any(), {ev(1), ev(2)}, 1},
                                 append_cmd{"s", any(), {ev(2), ev(3)}, 1}});
    CHECK(again[0].code == result_code::ok);
    CHECK(again[0].position == first[0].position);
    CHECK(again[1].code == result_code::duplicate_event);
    CHECK(sm.next_position() == 3);
  };
  SUBCASE("a new store") {
    sqlite_db db{":memory:", sqlite_db::mode::read_write_create};
    check_idempotence(db);
    auto names = index_names(db);
    REQUIRE(names.size() == 2);
    CHECK(names[0] == "CREATE INDEX events_event_id ON events(event_id)");
    CHECK(names[1] == "auto"); // UNIQUE(stream_id, event_number)
  }
  SUBCASE("a store made before the event id index") {
    sqlite_db db{":memory:", sqlite_db::mode::read_write_create};
    db.exec("CREATE TABLE events(position INTEGER PRIMARY KEY, stream_id TEXT "
            "NOT NULL, event_number INTEGER NOT NULL, event_id TEXT NOT NULL, "
            "event_type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT "
            "NULL, content_type TEXT NOT NULL, created INTEGER NOT NULL, "
            "UNIQUE(stream_id, event_number), UNIQUE(stream_id, event_id));");
    check_idempotence(db);
    CHECK(index_names(db) == std::vector<std::string>{"auto", "auto"});
  }
}
