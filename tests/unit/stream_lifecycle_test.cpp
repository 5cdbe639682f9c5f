// Deleting and truncating streams, and their retention limits, in the state
// machine (in-memory SQLite), through the codec and through the protocol
// layer's validation (protocol.md section 9).

#include <doctest/doctest.h>

#include <cstdio>
#include <unistd.h>

#include "gateway/json_rpc.hpp"
#include "gateway/scavenger.hpp"
#include "gateway/uuid.hpp"
#include "stores/codec.hpp"
#include "stores/state_machine.hpp"

using namespace cxesdb::stores;
using nlohmann::json;

namespace {

std::string uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-7000-8000-%012d", i);
  return buf;
}

event_input ev(int id) {
  return event_input{uuid(id), "Tested", "{\"n\":" + std::to_string(id) + "}",
                     "null", "application/json"};
}

constexpr expected_version any{expected_version::any, -1};
constexpr expected_version no_stream{expected_version::no_stream, -1};

expected_version exact(int64_t v) {
  return {expected_version::exact, v};
}

/// One second, in microseconds.
constexpr int64_t second_us = 1000000;

struct fixture {
  sqlite_db db{":memory:", sqlite_db::mode::read_write_create};
  state_machine sm{db};
  store_queries q{db};
  /// The clock appends carry (the leader's).
  int64_t now_us = 1000 * second_us;
  int next_id = 1;

  command_result apply(command cmd) {
    auto rs = sm.apply_batch(sm.applied_index() + 1, {std::move(cmd)});
    REQUIRE(rs.size() == 1);
    return rs[0];
  }

  /// Appends `n` new events to `stream`.
  command_result append(const std::string& stream, int n,
                        expected_version exp = any) {
    std::vector<event_input> events;
    for (int i = 0; i < n; ++i)
      events.push_back(ev(next_id++));
    return apply(append_cmd{stream, exp, std::move(events), now_us});
  }

  std::vector<int64_t> numbers(const std::string& stream, bool backward = false,
                               int64_t start = -1) {
    auto r = q.run(read_stream_query{stream, start, 100, backward, now_us});
    REQUIRE(r.code == result_code::ok);
    std::vector<int64_t> out;
    for (auto& e : r.events)
      out.push_back(e.event_number);
    return out;
  }

  std::vector<int64_t> positions() {
    auto r = q.run(read_all_query{0, 100, false, "", now_us});
    REQUIRE(r.code == result_code::ok);
    std::vector<int64_t> out;
    for (auto& e : r.events)
      out.push_back(e.position);
    return out;
  }

  std::vector<int64_t> stream_positions(const std::string& stream) {
    auto r = q.run(read_all_query{0, 100, false, stream, now_us});
    REQUIRE(r.code == result_code::ok);
    std::vector<int64_t> out;
    for (auto& e : r.events)
      out.push_back(e.position);
    return out;
  }

  int64_t version(const std::string& stream) {
    auto r = q.run(stream_version_query{stream});
    REQUIRE(r.code == result_code::ok);
    return r.version;
  }

  std::vector<std::string> streams() {
    return q.run(list_streams_query{}).streams;
  }

  command_result del(const std::string& stream, bool hard,
                     expected_version exp = any) {
    return apply(delete_stream_cmd{stream, exp, hard});
  }

  command_result set_meta(const std::string& stream, int64_t max_count,
                          int64_t max_age_s, std::string custom = "null") {
    return apply(set_stream_metadata_cmd{
      stream, stream_metadata{max_count, max_age_s, std::move(custom)},
      now_us});
  }
};

using v = std::vector<int64_t>;

} // namespace

TEST_CASE_FIXTURE(fixture, "a soft delete hides a stream until an append "
                           "recreates it after the deleted numbers") {
  append("a", 3);
  append("b", 1);
  auto r = del("a", false, exact(2));
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 2);
  CHECK(numbers("a").empty());
  CHECK(numbers("a", true).empty());
  CHECK(version("a") == -1);
  CHECK(streams() == std::vector<std::string>{"b"});
  CHECK(positions() == v{3});
  CHECK(stream_positions("a").empty());
  // recreated with no_stream: numbered after the deleted events
  r = append("a", 2, no_stream);
  CHECK(r.code == result_code::ok);
  CHECK(r.version == 4);
  CHECK(numbers("a") == v{3, 4});
  CHECK(numbers("a", true) == v{4, 3});
  CHECK(version("a") == 4);
  CHECK(streams() == std::vector<std::string>{"a", "b"});
  CHECK(positions() == v{3, 4, 5});
}

TEST_CASE_FIXTURE(fixture, "appends to a soft-deleted stream see version -1") {
  append("a", 2);
  del("a", false);
  auto r = append("a", 1, exact(1));
  CHECK(r.code == result_code::wrong_expected_version);
  CHECK(r.current_version == -1);
  CHECK(append("a", 1, {expected_version::stream_exists, -1}).code
        == result_code::wrong_expected_version);
  CHECK(append("a", 1, exact(0)).code
        == result_code::wrong_expected_version);
  CHECK(append("a", 1, any).version == 2);
}

TEST_CASE_FIXTURE(fixture, "a delete checks the expected version reads show") {
  append("a", 3);
  auto r = del("a", false, exact(1));
  CHECK(r.code == result_code::wrong_expected_version);
  CHECK(r.current_version == 2);
  CHECK(version("a") == 2);
  CHECK(del("a", true, no_stream).code == result_code::wrong_expected_version);
  CHECK(numbers("a") == v{0, 1, 2});
}

TEST_CASE_FIXTURE(fixture, "retries of a delete answer the same") {
  append("a", 3);
  CHECK(del("a", false, exact(2)).version == 2);
  auto again = del("a", false, exact(2));
  CHECK(again.code == result_code::ok);
  CHECK(again.version == 2);
  CHECK(del("a", false, any).version == 2);
  CHECK(del("a", false, exact(7)).code == result_code::wrong_expected_version);
  append("h", 2);
  CHECK(del("h", true).version == 1);
  auto hard_again = del("h", true);
  CHECK(hard_again.code == result_code::ok);
  CHECK(hard_again.version == 1);
}

TEST_CASE_FIXTURE(fixture, "a hard delete is for good, snapshots included") {
  append("h", 2);
  append("k", 1);
  apply(record_snapshot_cmd{{"src", "h", 1, "null", "{}", "null", 1}});
  apply(record_snapshot_cmd{{"src", "k", 0, "null", "{}", "null", 1}});
  CHECK(del("h", true).code == result_code::ok);
  CHECK(append("h", 1, no_stream).code == result_code::stream_deleted);
  CHECK(append("h", 1).code == result_code::stream_deleted);
  CHECK(q.run(read_stream_query{"h", -1, 10, false}).code
        == result_code::stream_deleted);
  CHECK(q.run(stream_version_query{"h"}).code == result_code::stream_deleted);
  CHECK(q.run(stream_metadata_query{"h"}).code == result_code::stream_deleted);
  CHECK(del("h", false).code == result_code::stream_deleted);
  CHECK(apply(truncate_stream_cmd{"h", 1}).code == result_code::stream_deleted);
  CHECK(set_meta("h", 1, 0).code == result_code::stream_deleted);
  CHECK(streams() == std::vector<std::string>{"k"});
  CHECK(positions() == v{2});
  auto snaps = q.run(list_snapshots_query{"", ""}).snapshots;
  REQUIRE(snaps.size() == 1);
  CHECK(snaps[0].stream_uuid == "k");
  // a soft-deleted stream can be hard deleted
  del("k", false);
  CHECK(del("k", true).code == result_code::ok);
  CHECK(append("k", 1).code == result_code::stream_deleted);
  // a stream that never existed can be hard deleted (a tombstone)
  CHECK(del("never", true).version == -1);
  CHECK(append("never", 1).code == result_code::stream_deleted);
}

TEST_CASE_FIXTURE(fixture, "truncate hides events below `before`, never back") {
  append("a", 5);
  append("b", 1);
  auto r = apply(truncate_stream_cmd{"a", 3});
  CHECK(r.code == result_code::ok);
  CHECK(r.first == 3);
  CHECK(numbers("a") == v{3, 4});
  CHECK(numbers("a", false, 0) == v{3, 4});
  CHECK(numbers("a", true) == v{4, 3});
  CHECK(numbers("a", true, 2).empty());
  CHECK(version("a") == 4);
  CHECK(positions() == v{3, 4, 5});
  CHECK(apply(truncate_stream_cmd{"a", 1}).first == 3);
  // beyond the end: the stream keeps its version, reads nothing
  CHECK(apply(truncate_stream_cmd{"a", 9}).first == 9);
  CHECK(numbers("a").empty());
  CHECK(version("a") == 4);
  CHECK(streams() == std::vector<std::string>{"a", "b"});
  append("a", 5);
  CHECK(numbers("a") == v{9});
}

TEST_CASE_FIXTURE(fixture, "max_count keeps the newest events") {
  append("a", 5);
  auto r = set_meta("a", 2, 0, "{\"owner\":\"x\"}");
  CHECK(r.code == result_code::ok);
  CHECK(numbers("a") == v{3, 4});
  append("a", 1);
  CHECK(numbers("a") == v{4, 5});
  CHECK(positions() == v{4, 5});
  auto m = q.run(stream_metadata_query{"a"});
  CHECK(m.metadata.max_count == 2);
  CHECK(m.metadata.max_age_s == 0);
  CHECK(m.metadata.custom == "{\"owner\":\"x\"}");
  // a larger max_count later does not bring removed events back
  set_meta("a", 10, 0);
  CHECK(numbers("a") == v{4, 5});
  CHECK(q.run(stream_metadata_query{"a"}).metadata.custom == "null");
}

TEST_CASE_FIXTURE(fixture, "max_age_s hides old events by the reader's clock "
                           "and removes them by the command's") {
  append("a", 2); // created at 1000 s
  now_us += 10 * second_us;
  append("a", 2); // at 1010 s
  set_meta("a", 0, 5); // applied at 1010 s: the first two are removed
  CHECK(numbers("a") == v{2, 3});
  auto r = q.run(read_stream_query{"a", -1, 10, false, now_us});
  CHECK(r.events.size() == 2);
  // later reads hide the rest by their own clock, before any command
  auto later = now_us + 6 * second_us;
  CHECK(q.run(read_stream_query{"a", -1, 10, false, later}).events.empty());
  CHECK(q.run(read_all_query{0, 10, false, "", later}).events.empty());
  CHECK(q.run(read_all_query{0, 10, false, "a", later}).events.empty());
  // an append removes by the time it carries
  now_us = later;
  append("a", 1);
  CHECK(numbers("a") == v{4});
  CHECK(version("a") == 4);
}

TEST_CASE_FIXTURE(fixture, "removals depend on the command alone") {
  // Two replicas apply the same log at different wall-clock times: the
  // same events are removed, because the commands carry the time.
  auto run = [](fixture& f) {
    f.append("a", 3);
    f.now_us += 100 * second_us;
    f.append("a", 1);
    f.set_meta("a", 0, 50);
    f.append("b", 3);
    f.del("b", false);
    f.apply(truncate_stream_cmd{"c", 2});
    f.append("c", 4);
  };
  fixture one;
  fixture two;
  run(one);
  run(two);
  auto dump = [](fixture& f) {
    std::vector<std::string> rows;
    auto s = f.db.prepare("SELECT stream_id, first, state FROM stream_meta "
                          "ORDER BY stream_id");
    while (s.step())
      rows.push_back(s.text(0) + ":" + std::to_string(s.int64(1)) + ":"
                     + std::to_string(s.int64(2)));
    return rows;
  };
  CHECK(dump(one) == dump(two));
  CHECK(dump(one)
        == std::vector<std::string>{"a:3:0", "b:3:1", "c:2:0"});
}

namespace {

int64_t rows(sqlite_db& db) {
  auto s = db.prepare("SELECT COUNT(*) FROM events");
  REQUIRE(s.step());
  return s.int64(0);
}

} // namespace

TEST_CASE_FIXTURE(fixture, "a scavenge deletes removed events in small steps") {
  append("a", 5);
  append("b", 4);
  append("c", 3);
  del("a", false);
  apply(truncate_stream_cmd{"b", 3});
  auto before = positions();
  CHECK(rows(db) == 12);
  auto step = apply(scavenge_cmd{3, 0, false, now_us});
  CHECK(step.code == result_code::ok);
  CHECK(step.removed == 3);
  CHECK(step.more);
  int64_t removed = step.removed;
  for (int guard = 0; step.more && guard < 10; ++guard) {
    step = apply(scavenge_cmd{3, 0, false, now_us});
    removed += step.removed;
  }
  CHECK_FALSE(step.more);
  CHECK(removed == 8);
  CHECK(rows(db) == 4);
  CHECK(positions() == before);
  CHECK(numbers("b") == v{3});
  // nothing left: a further step removes nothing
  step = apply(scavenge_cmd{100, 0, false, now_us});
  CHECK(step.removed == 0);
  CHECK_FALSE(step.more);
  // a soft-deleted stream recreated after a scavenge keeps its numbering
  CHECK(append("a", 1).version == 5);
  CHECK(numbers("a") == v{5});
}

TEST_CASE_FIXTURE(fixture, "a scavenge keeps the store's last event, so "
                           "positions continue after it") {
  append("a", 2);
  append("b", 2);
  del("b", true);
  CHECK(apply(scavenge_cmd{100, 0, false, now_us}).removed == 1);
  CHECK(rows(db) == 3);
  CHECK(positions() == v{0, 1});
  state_machine reopened{db};
  CHECK(reopened.next_position() == 4);
}

TEST_CASE_FIXTURE(fixture, "a scavenge expires events by its command's "
                           "clock") {
  append("a", 3);
  now_us += 100 * second_us;
  append("b", 1);
  set_meta("a", 0, 50); // all three are older: removed at once
  CHECK(numbers("a").empty());
  append("a", 1); // a fresh one
  now_us += 60 * second_us;
  // the command's clock, not the apply's, decides
  auto r = apply(scavenge_cmd{100, 0, true, now_us});
  CHECK(r.removed == 3);
  auto m = db.prepare("SELECT first FROM stream_meta WHERE stream_id = 'a'");
  REQUIRE(m.step());
  CHECK(m.int64(0) == 4);
}

TEST_CASE("a scavenge returns the space of a new store to the filesystem") {
  char tmpl[] = "/tmp/cxesdb-scavenge-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string path = std::string{tmpl} + "/store.db";
  {
    auto db = open_store_db(path);
    state_machine sm{*db};
    std::string blob(2000, 'x');
    uint64_t index = 0;
    for (int s = 0; s < 10; ++s) {
      std::vector<event_input> events;
      for (int i = 0; i < 100; ++i)
        events.push_back(event_input{uuid(s * 1000 + i), "T",
                                     "\"" + blob + "\"", "null",
                                     "application/json"});
      sm.apply_batch(++index, {append_cmd{"s" + std::to_string(s),
                                          any, std::move(events), 1}});
    }
    auto pages = [&] {
      auto q = db->prepare("PRAGMA page_count");
      REQUIRE(q.step());
      return q.int64(0);
    };
    auto full = pages();
    for (int s = 0; s < 9; ++s)
      sm.apply_batch(++index, {delete_stream_cmd{"s" + std::to_string(s), any,
                                                 true}});
    int64_t reclaimed = 0;
    int64_t removed = 0;
    for (int guard = 0; guard < 1000; ++guard) {
      auto r = sm.apply_batch(++index,
                              {scavenge_cmd{limits::scavenge_rows_per_step,
                                            limits::scavenge_pages_per_step,
                                            false, 1}})[0];
      REQUIRE(r.code == result_code::ok);
      removed += r.removed;
      reclaimed += r.reclaimed_bytes;
      if (!r.more && r.reclaimed_bytes == 0)
        break;
    }
    CHECK(removed == 900);
    CHECK(reclaimed > 0);
    CHECK(pages() * 2 <= full);
  }
  for (auto f : {"", "-wal", "-shm"})
    std::remove((path + f).c_str());
  rmdir(tmpl);
}

TEST_CASE_FIXTURE(fixture, "store retention: the limits of streams without "
                           "their own") {
  // the defaults, as create_store sets them: the metadata of stream ""
  set_meta("", 2, 0);
  append("a", 5);
  CHECK(numbers("a") == v{3, 4});
  append("b", 1);
  set_meta("b", 4, 0); // its own limit wins
  append("b", 4);
  CHECK(numbers("b") == v{1, 2, 3, 4});
  CHECK(q.run(stream_metadata_query{"a"}).metadata.max_count == 0);
  CHECK(streams() == std::vector<std::string>{"a", "b"});
  CHECK(positions() == v{3, 4, 6, 7, 8, 9});
  // they survive a restart of the state machine
  state_machine reopened{db};
  reopened.apply_batch(sm.applied_index() + 1,
                       {append_cmd{"a", any, {ev(900)}, now_us}});
  CHECK(numbers("a") == v{4, 5});
}

TEST_CASE_FIXTURE(fixture, "store retention: max_age_s for reads and "
                           "scavenges") {
  set_meta("", 0, 50);
  append("a", 2); // at 1000 s
  now_us += 60 * second_us;
  CHECK(numbers("a").empty()); // the reader's clock hides them
  CHECK(q.run(read_all_query{0, 10, false, "", now_us}).events.empty());
  auto r = apply(scavenge_cmd{100, 0, true, now_us});
  // the last event of the store stays on the disk
  CHECK(r.removed == 1);
  CHECK(rows(db) == 1);
}

TEST_CASE("lifecycle commands and queries round-trip through the codec") {
  std::vector<command> cmds{
    delete_stream_cmd{"s", exact(4), true},
    truncate_stream_cmd{"s", 17},
    set_stream_metadata_cmd{"s", stream_metadata{3, 60, "{\"a\":1}"}, 99},
    scavenge_cmd{500, 256, true, 7},
  };
  for (auto& cmd : cmds) {
    auto back = decode(encode(cmd));
    REQUIRE(back);
    CHECK(back->index() == cmd.index());
    CHECK(encode(*back) == encode(cmd));
  }
  auto d = std::get<delete_stream_cmd>(*decode(encode(cmds[0])));
  CHECK(d.hard);
  CHECK(d.expected.value == 4);
  auto m = std::get<set_stream_metadata_cmd>(*decode(encode(cmds[2])));
  CHECK(m.metadata.max_age_s == 60);
  CHECK(m.now_epoch_us == 99);

  auto qb = decode_query(encode(query{stream_metadata_query{"s"}}));
  REQUIRE(qb);
  CHECK(std::get<stream_metadata_query>(*qb).stream == "s");
  auto rq = decode_query(encode(query{read_all_query{1, 2, false, "", 77}}));
  REQUIRE(rq);
  CHECK(std::get<read_all_query>(*rq).now_epoch_us == 77);

  command_result cr;
  cr.code = result_code::stream_deleted;
  cr.first = 12;
  auto cr2 = decode_command_result(encode(cr));
  REQUIRE(cr2);
  CHECK(cr2->code == result_code::stream_deleted);
  CHECK(cr2->first == 12);

  query_result qr;
  qr.metadata = stream_metadata{5, 6, "{}"};
  auto qr2 = decode_query_result(encode(qr));
  REQUIRE(qr2);
  CHECK(qr2->metadata.max_count == 5);
  CHECK(qr2->metadata.custom == "{}");
}

namespace {

struct rpc_fixture {
  cxesdb::gateway::rpc_limits limits;
  std::string default_store = "default";
  cxesdb::gateway::uuid_generator uuids{42};
  cxesdb::gateway::parse_context ctx{&limits, &default_store, &uuids, 5000};

  cxesdb::gateway::rpc_error fails(cxesdb::gateway::method m,
                                   const json& params) {
    auto r = cxesdb::gateway::parse_call(m, params, ctx);
    REQUIRE(std::holds_alternative<cxesdb::gateway::rpc_error>(r));
    return std::get<cxesdb::gateway::rpc_error>(r);
  }
};

} // namespace

TEST_CASE_FIXTURE(rpc_fixture, "bad lifecycle params name their field") {
  using cxesdb::gateway::method;
  auto field = [&](method m, const json& p) {
    auto e = fails(m, p);
    CHECK(e.reason == errc::invalid_params);
    return e.data["field"].get<std::string>();
  };
  CHECK(field(method::truncate_stream, {{"stream", "s"}, {"before", -1}})
        == "before");
  CHECK(field(method::truncate_stream, {{"stream", "s"}}) == "before");
  CHECK(field(method::set_stream_metadata, {{"stream", "s"}, {"max_count", 0}})
        == "max_count");
  CHECK(field(method::set_stream_metadata, {{"stream", "s"}, {"max_age_s", 0}})
        == "max_age_s");
  CHECK(field(method::set_stream_metadata,
              {{"stream", "s"}, {"custom", json::array()}})
        == "custom");
  CHECK(field(method::set_stream_metadata, {{"stream", "s"}, {"maxCount", 3}})
        == "maxCount");
  CHECK(field(method::delete_stream, {{"stream", "s"}, {"hard", "yes"}})
        == "hard");
  CHECK(field(method::delete_stream, {{"stream", "$all"}}) == "stream");
  CHECK(field(method::get_stream_metadata, {{"stream", "s"}, {"x", 1}}) == "x");
  auto ok = cxesdb::gateway::parse_call(
    method::set_stream_metadata,
    {{"stream", "s"}, {"max_count", 3}, {"custom", {{"a", 1}}}}, ctx);
  REQUIRE(std::holds_alternative<cxesdb::gateway::parsed_call>(ok));
  auto& call = std::get<cxesdb::gateway::parsed_call>(ok);
  auto& cmd = std::get<set_stream_metadata_cmd>(call.cmd);
  CHECK(cmd.now_epoch_us == 5000);
  CHECK(cmd.metadata.max_count == 3);
  CHECK(cmd.metadata.custom == "{\"a\":1}");
  command_result r;
  auto text = cxesdb::gateway::format_write(call, r);
  REQUIRE(std::holds_alternative<std::string>(text));
  CHECK(json::parse(std::get<std::string>(text))
        == json{{"metadata", {{"max_count", 3}, {"custom", {{"a", 1}}}}}});
  r.code = result_code::stream_deleted;
  auto err = cxesdb::gateway::format_write(call, r);
  REQUIRE(std::holds_alternative<cxesdb::gateway::rpc_error>(err));
  auto& e = std::get<cxesdb::gateway::rpc_error>(err);
  CHECK(e.reason == errc::stream_deleted);
  CHECK(e.data["stream"] == "s");
  auto read = cxesdb::gateway::parse_call(method::get_version,
                                         {{"stream", "gone"}}, ctx);
  REQUIRE(std::holds_alternative<cxesdb::gateway::parsed_call>(read));
  query_result qr;
  qr.code = result_code::stream_deleted;
  auto rerr = cxesdb::gateway::format_read(
    std::get<cxesdb::gateway::parsed_call>(read), qr);
  REQUIRE(std::holds_alternative<cxesdb::gateway::rpc_error>(rerr));
  CHECK(std::get<cxesdb::gateway::rpc_error>(rerr).data["stream"] == "gone");
  CHECK(to_code(errc::stream_deleted) == -32011);
  errc back{};
  CHECK(from_reason("stream_deleted", back));
  CHECK(back == errc::stream_deleted);
}

TEST_CASE("the scavenge throttle leaves the appends the rest of the time") {
  using std::chrono::microseconds;
  cxesdb::gateway::scavenge_throttle t;
  CHECK(t.percent == cxesdb::gateway::scavenge_throttle::percent_default);
  // 50 %: as long a pause as the step took.
  CHECK(t.pause_after(microseconds{4000}) == microseconds{4000});
  t.percent = 20; // a fifth of the time: four times the step
  CHECK(t.pause_after(microseconds{1000}) == microseconds{4000});
  t.percent = 100; // no pause
  CHECK(t.pause_after(microseconds{1000}) == microseconds{0});
  t.percent = 1;
  CHECK(t.pause_after(microseconds{10}) == microseconds{990});
  CHECK(t.pause_after(microseconds{0}) == microseconds{0});
}
