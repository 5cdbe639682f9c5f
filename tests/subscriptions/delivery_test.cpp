// Subscription delivery against a real cxesdb-node over TCP: catch-up from
// the origin that turns into live delivery while a writer appends, every
// selector type with events that must and must not match, and start_from
// "current" and a numeric position (protocol.md, "Subscriptions").

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>

#include "tests/subscriptions/subscription_support.hpp"

using namespace cxesdb::tests;

namespace {

/// Subscribes `c` and returns the subscription id.
std::string subscribe(json_client& c, json params) {
  auto r = ok(c, "save_subscription", params);
  REQUIRE(r.contains("subscription"));
  REQUIRE(r["subscription"].is_string());
  CHECK(r.contains("checkpoint"));
  return r["subscription"].get<std::string>();
}

/// Checks that `events` are exactly positions first..last, once each, in
/// order, and that each equals what read_all returns at its position.
void check_gapless(const std::vector<json>& events, int64_t first,
                   int64_t last, const json& stored) {
  auto got = positions_of(events);
  auto want = range_of(first, last);
  INFO("received " << positions_text(got));
  REQUIRE(got == want);
  for (auto& e : events) {
    auto p = e["position"].get<size_t>();
    REQUIRE(p < stored.size());
    CHECK_MESSAGE(e == stored[p], "event at " << p << ": " << brief(e)
                                              << " stored: " << brief(stored[p]));
  }
}

} // namespace

TEST_CASE("catch-up from the origin turns into live delivery without gap or "
          "duplicate while a writer appends") {
  node_process node;
  auto c = node.connect();
  const std::string store = "catchup";
  create_store(c, store);
  // Stored before anyone subscribes: catch-up material.
  constexpr size_t before = 3000;
  append_many(c, store, "pre-a", before / 2, 300);
  append_many(c, store, "pre-b", before / 2, 300);
  // The writer runs while the subscribers catch up and after: the switch
  // from catch-up to live happens under concurrent appends.
  constexpr size_t during = 4000;
  background_writer::options wo;
  wo.port = node.port();
  wo.store = store;
  wo.streams = 4;
  wo.total = during;
  wo.batch_min = 1;
  wo.batch_max = 40;
  background_writer writer{wo};
  REQUIRE(eventually([&] { return writer.appended() >= 200; }));
  // Two subscribers: $all with the default max_in_flight, and $all with
  // max_in_flight 1 (one event per credit).
  auto all = node.connect();
  auto all_id = subscribe(all, {{"store", store},
                                {"type", "by_stream"},
                                {"selector", "$all"},
                                {"start_from", "origin"}});
  auto one = node.connect();
  auto one_id = subscribe(one, {{"store", store},
                                {"type", "by_stream"},
                                {"selector", "$all"},
                                {"start_from", "origin"},
                                {"max_in_flight", 1}});
  CHECK(all_id != one_id);
  constexpr int64_t total = before + during;
  // The first subscriber reads while the writer still writes.
  auto got_all = read_events(all, store, all_id, total, 90000);
  writer.join();
  writer.check();
  MESSAGE("writer appended " << during << " events in " << writer.seconds()
                             << " s while the subscribers caught up");
  auto got_one = read_events(one, store, one_id, total, 60000);
  auto stored = read_all_events(c, store);
  REQUIRE(stored.size() == static_cast<size_t>(total));
  check_gapless(got_all, 0, total - 1, stored);
  check_gapless(got_one, 0, total - 1, stored);
  // Nothing more: no duplicate after the last event.
  expect_quiet(all);
  expect_quiet(one);
  // And live delivery goes on after the writer stopped.
  append(c, store, "w-0", make_events(2));
  auto tail_all = read_events(all, store, all_id, 2);
  CHECK(positions_of(tail_all) == range_of(total, total + 1));
  auto tail_one = read_events(one, store, one_id, 2);
  CHECK(positions_of(tail_one) == range_of(total, total + 1));
}

// A by_stream subscription on one stream reads the store page by page
// filtered by stream: its pages do not start at the cursor, and must not be
// taken for gaps (a bug that lost such events, and re-read a full page
// forever).
TEST_CASE("a by_stream subscription on one stream catches up and goes live "
          "without gap or duplicate") {
  node_process node;
  auto c = node.connect();
  const std::string store = "onestream";
  create_store(c, store);
  append(c, store, "x", make_events(5));  // 0..4
  append(c, store, "s", make_events(3));  // 5..7
  append(c, store, "x", make_events(5));  // 8..12
  append_many(c, store, "s", 400, 100);   // 13..412
  auto stored = stream_events(c, store, "s");
  REQUIRE(stored.size() == 403);
  // From the origin: the stream's first event is at position 5.
  auto o = node.connect();
  auto oid = subscribe(o, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "s"},
                           {"start_from", "origin"}});
  // From position 6: the stream's events from event number 1.
  auto m = node.connect();
  auto mid = subscribe(m, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "s"},
                           {"start_from", 6}});
  // Live under a concurrent writer on s and other streams.
  background_writer::options wo;
  wo.port = node.port();
  wo.store = store;
  wo.prefix = "w";
  wo.streams = 3;
  wo.total = 600;
  wo.batch_max = 20;
  background_writer writer{wo};
  auto w0 = node.connect();
  auto w0id = subscribe(w0, {{"store", store},
                             {"type", "by_stream"},
                             {"selector", "w-0"},
                             {"start_from", "origin"}});
  // Each part is checked on its own (no REQUIRE), so that a failure report
  // shows all three.
  auto got_o = collect_events(o, store, oid, stored.size(), 8000);
  CHECK_MESSAGE(got_o.size() == stored.size(),
                "from the origin: " << positions_text(positions_of(got_o)));
  for (size_t i = 0; i < got_o.size(); ++i)
    CHECK(got_o[i] == stored[i]);
  auto got_m = collect_events(m, store, mid, stored.size() - 1, 8000);
  CHECK_MESSAGE(got_m.size() == stored.size() - 1,
                "from position 6: " << positions_text(positions_of(got_m)));
  for (size_t i = 0; i < got_m.size(); ++i)
    CHECK(got_m[i] == stored[i + 1]);
  writer.join();
  writer.check();
  auto w0_stored = stream_events(c, store, "w-0");
  auto got_w0 = collect_events(w0, store, w0id, w0_stored.size(), 8000);
  CHECK_MESSAGE(got_w0.size() == w0_stored.size(),
                "w-0 under a writer: " << positions_text(positions_of(got_w0))
                                       << " of " << w0_stored.size());
  for (size_t i = 0; i < got_w0.size(); ++i) {
    CHECK(got_w0[i] == w0_stored[i]);
    CHECK(got_w0[i]["event_number"] == i);
  }
  REQUIRE(got_o.size() == stored.size());
  append(c, store, "s", make_events(2));
  auto tail = read_events(o, store, oid, 2);
  CHECK(tail[0]["event_number"] == 403);
  CHECK(tail[1]["event_number"] == 404);
  expect_quiet(o, 100);
  expect_quiet(w0, 100);
}

namespace {

/// An event of the selector fixture.
struct fixture_event {
  std::string stream;
  json event; // as the client writes it
};

json ev(const std::string& type, json data, json metadata = nullptr,
        const std::string& content_type = {}) {
  auto e = make_event(type, std::move(data));
  if (!metadata.is_null())
    e["metadata"] = std::move(metadata);
  if (!content_type.empty())
    e["content_type"] = content_type;
  return e;
}

/// Events chosen so that each selector below matches some of them and
/// narrowly misses others (prefixes, case, nested keys, array order, types,
/// null against a missing key, binary data).
std::vector<fixture_event> selector_fixture() {
  return {
    // 0
    {"order-1",
     ev("OrderPlaced",
        {{"order", 1},
         {"customer", {{"id", "c1"}, {"tier", "gold"}, {"address", {{"city", "Oslo"}}}}},
         {"tags", {"a", "b"}},
         {"total", 10}},
        {{"source", "web"}, {"trace", {{"id", "t1"}}}})},
    // 1
    {"order-2",
     ev("OrderPlaced",
        {{"order", 2},
         {"customer", {{"id", "c2"}, {"tier", "silver"}}},
         {"tags", {"a"}},
         {"total", "10"}},
        {{"source", "api"}})},
    // 2: no metadata (null)
    {"order-1", ev("OrderShipped", {{"order", 1}, {"carrier", "ups"}})},
    // 3: a stream whose id starts with "order-1", a type that starts with
    // "OrderPlaced"
    {"order-10",
     ev("OrderPlacedV2", {{"order", 10}, {"customer", {{"id", "c1"}}}},
        {{"source", "web"}, {"trace", {{"id", "t2"}}}})},
    // 4: binary: base64 of {"order":1}
    {"blob-1",
     ev("OrderPlaced", "eyJvcmRlciI6MX0=", {{"source", "web"}},
        "application/octet-stream")},
    // 5: the type in another case; tags in another order
    {"order-3",
     ev("orderplaced", {{"order", 3}, {"tags", {"b", "a"}}},
        {{"source", "Web"}})},
    // 6: data that is not an object
    {"misc", ev("Numbers", json::array({1, 2}), {{"source", "web"}})},
    // 7: customer of the wrong type
    {"order-4", ev("OrderPlaced", {{"order", 4}, {"customer", "c1"}})},
    // 8: a key that is null, and a nested object with more keys
    {"order-5",
     ev("OrderPlaced",
        {{"order", 5},
         {"customer", {{"id", "c1"}, {"tier", nullptr}, {"address", {{"city", "Oslo"}, {"zip", "0150"}}}}}},
        {{"source", "web"}, {"trace", {{"id", "t1"}, {"span", 7}}}})},
    // 9: data is a scalar
    {"misc", ev("Numbers", 1)},
  };
}

/// One selector: which fixture events it must match, and a final event that
/// it matches too (read last: it proves everything before it was examined).
/// A selector that matches nothing has no fence (empty stream): the test then
/// waits until get_subscriptions says every event was examined.
struct selector_case {
  std::string type;
  json selector;
  std::vector<size_t> expected;
  fixture_event fence;
  /// Whether the fixture, appended again, must match the same way (not when
  /// the selector names event numbers).
  bool live = true;
};

std::vector<selector_case> selector_cases() {
  return {
    {"by_stream", "order-1", {0, 2}, {"order-1", ev("Fence", {{"f", 1}})}},
    {"by_stream", "$all", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
     {"fence", ev("Fence", {{"f", 1}})}},
    {"by_stream", "misc", {6, 9}, {"misc", ev("Fence", {{"f", 1}})}},
    {"by_event_type", "OrderPlaced", {0, 1, 4, 7, 8},
     {"fence", ev("OrderPlaced", {{"f", 1}})}},
    {"by_event_type", "OrderShipped", {2},
     {"fence", ev("OrderShipped", {{"f", 1}})}},
    // Payload: never binary data, even when its bytes decode to a match.
    {"by_event_payload", {{"order", 1}}, {0, 2},
     {"fence", ev("Fence", {{"order", 1}})}},
    // Nested subset; the string "c1" is not an object with id c1.
    {"by_event_payload", {{"customer", {{"id", "c1"}}}}, {0, 3, 8},
     {"fence", ev("Fence", {{"customer", {{"id", "c1"}}}})}},
    {"by_event_payload", {{"customer", {{"address", {{"city", "Oslo"}}}}}},
     {0, 8},
     {"fence", ev("Fence", {{"customer", {{"address", {{"city", "Oslo"}}}}}})}},
    // Arrays are equal or not: no subset, no reordering.
    {"by_event_payload", {{"tags", {"a"}}}, {1},
     {"fence", ev("Fence", {{"tags", {"a"}}})}},
    {"by_event_payload", {{"tags", {"a", "b"}}}, {0},
     {"fence", ev("Fence", {{"tags", {"a", "b"}}})}},
    // Scalars of another type are not equal: 10 is not "10".
    {"by_event_payload", {{"total", 10}}, {0},
     {"fence", ev("Fence", {{"total", 10}})}},
    {"by_event_payload", {{"total", "10"}}, {1},
     {"fence", ev("Fence", {{"total", "10"}})}},
    // null matches a null value, not a missing key.
    {"by_event_payload", {{"customer", {{"tier", nullptr}}}}, {8},
     {"fence", ev("Fence", {{"customer", {{"tier", nullptr}}}})}},
    // Several keys: all must match.
    {"by_event_payload", {{"order", 1}, {"carrier", "ups"}}, {2},
     {"fence", ev("Fence", {{"order", 1}, {"carrier", "ups"}})}},
    // Pattern on the event record.
    {"by_event_pattern", {{"event_type", "OrderShipped"}}, {2},
     {"fence", ev("OrderShipped", {{"f", 1}})}},
    {"by_event_pattern", {{"metadata", {{"source", "web"}}}}, {0, 3, 4, 6, 8},
     {"fence", ev("Fence", {{"f", 1}}, {{"source", "web"}})}},
    {"by_event_pattern",
     {{"metadata", {{"trace", {{"id", "t1"}}}}}, {"stream_id", "order-1"}},
     {0},
     {"order-1", ev("Fence", {{"f", 1}}, {{"trace", {{"id", "t1"}}}})}},
    {"by_event_pattern", {{"metadata", nullptr}}, {2, 7, 9},
     {"fence", ev("Fence", {{"f", 1}})}},
    {"by_event_pattern", {{"stream_id", "order-1"}, {"data", {{"order", 1}}}},
     {0, 2},
     {"order-1", ev("Fence", {{"order", 1}})}},
    // Event numbers: only the first event of each stream, so not live.
    {"by_event_pattern", {{"event_number", 0}, {"event_type", "OrderPlaced"}},
     {0, 1, 4, 7, 8},
     {"fence", ev("OrderPlaced", {{"f", 1}})},
     false},
    {"by_event_pattern", {{"content_type", "application/octet-stream"}}, {4},
     {"fence",
      ev("Fence", "AAE=", nullptr, "application/octet-stream")}},
    {"by_event_pattern",
     {{"event_type", "OrderPlaced"}, {"data", {{"customer", {{"id", "c1"}}}}}},
     {0, 8},
     {"fence", ev("OrderPlaced", {{"customer", {{"id", "c1"}}}})}},
    // A key the record does not have matches nothing, whatever the rest.
    {"by_event_pattern", {{"event_type", "OrderPlaced"}, {"color", "red"}}, {},
     {}},
    // An object never equals a number.
    {"by_event_payload", {{"order", json::object()}}, {}, {}},
  };
}

} // namespace

namespace {

/// Reads the events of `id` on `s` up to the store's last event at
/// `last_position`: through the fence when the case has one, or else until
/// get_subscriptions says the subscription examined everything (polling),
/// then whatever arrived. Returns the fixture indices that arrived
/// (positions minus `base`), checking each event id.
std::vector<size_t> matched_events(json_client& c, json_client& s,
                                   const std::string& store,
                                   const std::string& id,
                                   const selector_case& sc,
                                   const std::vector<std::string>& ids,
                                   int64_t base, int64_t last_position,
                                   const json& fence) {
  std::vector<json> got;
  if (!sc.fence.stream.empty()) {
    got = read_events_through(s, store, id, last_position, 8000);
    REQUIRE(!got.empty());
    CHECK(got.back()["position"] == last_position);
    CHECK(got.back()["event_id"] == fence["event_id"]);
    got.pop_back();
  } else {
    auto examined = eventually([&] {
      auto entry = subscription_entry(c, store, id);
      return entry.is_object() && entry.value("checkpoint", -2) >= last_position;
    }, 8000);
    CHECK_MESSAGE(examined, "get_subscriptions never showed checkpoint "
                              << last_position << " for " << id << ": "
                              << brief(subscription_entry(c, store, id)));
    while (auto msg = s.read_line(50)) {
      auto n = json::parse(*msg, nullptr, false);
      got.push_back(event_of(n, store, id));
    }
  }
  std::vector<size_t> matched;
  for (auto& e : got) {
    auto p = e["position"].get<int64_t>() - base;
    REQUIRE(p >= 0);
    REQUIRE(p < static_cast<int64_t>(ids.size()));
    CHECK(e["event_id"] == ids[static_cast<size_t>(p)]);
    matched.push_back(static_cast<size_t>(p));
  }
  return matched;
}

} // namespace

namespace {

/// True for a by_stream selector that names one stream (not $all).
bool names_one_stream(const selector_case& sc) {
  return sc.type == "by_stream" && sc.selector != "$all";
}

/// Runs the selector cases for which `pick` holds, each on its own store.
template <class Predicate>
void run_selector_cases(Predicate pick) {
  node_process node;
  auto c = node.connect();
  auto fixture = selector_fixture();
  auto cases = selector_cases();
  for (size_t k = 0; k < cases.size(); ++k) {
    auto& sc = cases[k];
    if (!pick(sc))
      continue;
    CAPTURE(sc.type);
    INFO("selector " << sc.selector.dump());
    auto store = "sel_" + std::to_string(k);
    create_store(c, store);
    // Catch-up: the fixture and the fence (or a final event that matches
    // nothing) are stored before the subscription.
    auto append_fixture = [&](std::vector<std::string>& ids) {
      for (auto& fe : fixture) {
        auto e = fe.event;
        e["event_id"] = uuid4();
        append(c, store, fe.stream, json::array({e}));
        ids.push_back(e["event_id"].get<std::string>());
      }
      auto last = sc.fence.stream.empty()
                    ? make_event("End")
                    : sc.fence.event;
      last["event_id"] = uuid4();
      auto r = append(c, store, sc.fence.stream.empty() ? "end" : sc.fence.stream,
                      json::array({last}));
      return std::make_pair(r["position"].get<int64_t>(), last);
    };
    std::vector<std::string> ids;
    auto [last_position, fence] = append_fixture(ids);
    REQUIRE(last_position == static_cast<int64_t>(fixture.size()));
    auto s = node.connect();
    auto id = subscribe(s, {{"store", store},
                            {"type", sc.type},
                            {"selector", sc.selector},
                            {"start_from", "origin"}});
    auto matched = matched_events(c, s, store, id, sc, ids, 0, last_position,
                                  fence);
    CHECK(matched == sc.expected);
    if (!sc.live)
      continue;
    // Live events are filtered the same way: the fixture again, then the
    // fence again.
    std::vector<std::string> live_ids;
    auto [live_last, live_fence] = append_fixture(live_ids);
    auto base = last_position + 1;
    auto live_matched = matched_events(c, s, store, id, sc, live_ids, base,
                                       live_last, live_fence);
    CHECK(live_matched == sc.expected);
    expect_quiet(s, 50);
  }
}

} // namespace

TEST_CASE("every selector type delivers the events that match and no other") {
  run_selector_cases([](const selector_case& sc) {
    return !names_one_stream(sc);
  });
}

// Stream "misc", whose first event is not at position 0 (see above).
TEST_CASE("by_stream selectors on one stream deliver that stream only") {
  run_selector_cases(names_one_stream);
}

TEST_CASE("start_from current delivers only events appended after the "
          "subscription answer") {
  node_process node;
  auto c = node.connect();
  const std::string store = "current";
  create_store(c, store);
  append_many(c, store, "s", 10, 10);
  auto s = node.connect();
  auto r = ok(s, "save_subscription", {{"store", store},
                                       {"type", "by_stream"},
                                       {"selector", "$all"},
                                       {"start_from", "current"}});
  auto id = r["subscription"].get<std::string>();
  // Nothing from before the subscription.
  expect_quiet(s, 300);
  append(c, store, "s", make_events(3));
  auto got = read_events(s, store, id, 3);
  CHECK(positions_of(got) == range_of(10, 12));
  expect_quiet(s, 100);
  // The default is "current" too.
  auto d = node.connect();
  auto did = subscribe(d, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "$all"}});
  append(c, store, "s", make_events(1));
  auto dgot = read_events(d, store, did, 1);
  CHECK(dgot[0]["position"] == 13);
  auto more = read_events(s, store, id, 1);
  CHECK(more[0]["position"] == 13);
  expect_quiet(d, 100);
  // Right after the answer: an append sent the moment the answer arrived
  // (from another connection) must be delivered; "current" is the head when
  // the subscription was made, not some later moment. Repeated, since a race
  // would show only sometimes.
  for (int round = 0; round < 15; ++round) {
    CAPTURE(round);
    auto x = node.connect();
    auto xid = subscribe(x, {{"store", store},
                             {"type", "by_stream"},
                             {"selector", "$all"},
                             {"start_from", "current"}});
    auto a = append(c, store, "race", make_events(1));
    auto xgot = read_events(x, store, xid, 1, 10000);
    CHECK(xgot[0]["position"] == a["position"]);
    ok(x, "unsubscribe", {{"store", store}, {"subscription", xid}});
  }
}

TEST_CASE("start_from a position delivers from that position on") {
  node_process node;
  auto c = node.connect();
  const std::string store = "frompos";
  create_store(c, store);
  append_many(c, store, "a", 10, 10);
  append_many(c, store, "b", 10, 10); // positions 10..19
  auto s = node.connect();
  auto id = subscribe(s, {{"store", store},
                          {"type", "by_stream"},
                          {"selector", "$all"},
                          {"start_from", 7}});
  auto got = read_events(s, store, id, 13);
  CHECK(positions_of(got) == range_of(7, 19));
  expect_quiet(s, 100);
  append(c, store, "a", make_events(2));
  auto live = read_events(s, store, id, 2);
  CHECK(positions_of(live) == range_of(20, 21));
  // A transient subscription needs no acks; one is accepted and answers
  // the position delivered so far.
  auto ack = ok(s, "ack_event",
                {{"store", store}, {"subscription", id}, {"position", 21}});
  CHECK(ack["checkpoint"] == 21);
  // A stream subscription from a position skips that stream's earlier
  // events: stream b holds positions 10..19.
  auto b = node.connect();
  auto bid = subscribe(b, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "b"},
                           {"start_from", 15}});
  auto bgot = read_events(b, store, bid, 5);
  CHECK(positions_of(bgot) == range_of(15, 19));
  CHECK(bgot[0]["event_number"] == 5);
  expect_quiet(b, 100);
  // Position 0 is the origin.
  auto z = node.connect();
  auto zid = subscribe(z, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "$all"},
                           {"start_from", 0}});
  auto zgot = read_events(z, store, zid, 22);
  CHECK(positions_of(zgot) == range_of(0, 21));
  // A position beyond the head: nothing until the store gets there.
  auto f = node.connect();
  auto fid = subscribe(f, {{"store", store},
                           {"type", "by_stream"},
                           {"selector", "$all"},
                           {"start_from", 25}});
  expect_quiet(f, 200);
  append(c, store, "a", make_events(6)); // positions 22..27
  auto fgot = read_events(f, store, fid, 3);
  CHECK(positions_of(fgot) == range_of(25, 27));
  expect_quiet(f, 100);
}
