// Persistent subscriptions against a real cxesdb-node over TCP: resuming
// after a disconnect, competing consumers, get_subscriptions, and surviving a
// restart of the node (protocol.md, "Subscriptions": at-least-once delivery,
// checkpoints moved by ack_event, round robin between connections).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "tests/subscriptions/subscription_support.hpp"

using namespace cxesdb::tests;

namespace {

/// Parameters of save_subscription for the persistent subscription `name`
/// on $all.
json persistent_params(const std::string& store, const std::string& name,
                       json start_from = "origin", int max_in_flight = 20) {
  return {{"store", store},
          {"type", "by_stream"},
          {"selector", "$all"},
          {"name", name},
          {"start_from", std::move(start_from)},
          {"max_in_flight", max_in_flight}};
}

/// Checkpoints that ack_event answered on one subscription, checked as they
/// come: never backwards, never behind what was acknowledged (when the
/// caller is the only one holding events below the acked position).
struct checkpoint_log {
  int64_t last = -1;
  std::vector<int64_t> seen;

  /// Acks `position` on `c` and checks the answer.
  int64_t ack(json_client& c, const std::string& store,
              const std::string& subscription, int64_t position,
              bool sole_consumer = true) {
    auto r = ok(c, "ack_event", {{"store", store},
                                 {"subscription", subscription},
                                 {"position", position}});
    REQUIRE(r.contains("checkpoint"));
    REQUIRE(r["checkpoint"].is_number_integer());
    auto cp = r["checkpoint"].get<int64_t>();
    INFO("ack of " << position << " answered checkpoint " << cp
                   << " after " << positions_text(seen));
    CHECK(cp >= last);
    if (sole_consumer)
      CHECK(cp >= position);
    last = std::max(last, cp);
    seen.push_back(cp);
    return cp;
  }
};

/// Reads events of `subscription` on `c` until one at `until` arrived,
/// acking the newest every `ack_every` events and at the end.
std::vector<json> consume_acking(json_client& c, const std::string& store,
                                 const std::string& subscription, int64_t until,
                                 size_t ack_every, checkpoint_log& log,
                                 int timeout_ms = 60000) {
  std::vector<json> out;
  auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
  size_t unacked = 0;
  while (out.empty() || out.back()["position"].get<int64_t>() < until) {
    auto msg = next_notification(c, ms_left(deadline));
    REQUIRE_MESSAGE(msg.has_value(),
                    "no event at " << until << " of " << subscription
                                   << "; received "
                                   << positions_text(positions_of(out)));
    out.push_back(event_of(*msg, store, subscription));
    if (++unacked >= ack_every) {
      log.ack(c, store, subscription, out.back()["position"].get<int64_t>());
      unacked = 0;
    }
  }
  if (unacked > 0)
    log.ack(c, store, subscription, out.back()["position"].get<int64_t>());
  return out;
}

/// Waits until get_subscriptions shows `subscribers` connections on
/// `subscription`; returns its entry.
json await_subscribers(json_client& c, const std::string& store,
                       const std::string& subscription, size_t subscribers) {
  json entry;
  auto reached = eventually([&] {
    entry = subscription_entry(c, store, subscription);
    return entry.is_object()
           && entry.value("subscribers", size_t{999}) == subscribers;
  });
  REQUIRE_MESSAGE(reached, subscription << " never had " << subscribers
                                        << " subscribers: " << brief(entry));
  return entry;
}

} // namespace

TEST_CASE("a persistent subscriber that disconnects resumes after its last "
          "ack and receives every event at least once") {
  node_process node;
  auto c = node.connect();
  const std::string store = "resume";
  create_store(c, store);
  append_many(c, store, "early", 100, 50); // positions 0..99
  background_writer::options wo;
  wo.port = node.port();
  wo.store = store;
  wo.total = 300;
  wo.batch_max = 10;
  background_writer writer{wo};
  constexpr int64_t last = 399;
  checkpoint_log log;
  // First connection: 40 events, acked up to 31, then gone with 32..39
  // unacknowledged.
  std::vector<json> first;
  {
    auto a = node.connect();
    auto r = ok(a, "save_subscription", persistent_params(store, "p4"));
    CHECK(r["subscription"] == "p4");
    CHECK(r["checkpoint"] == -1);
    // Eight events at a time (the window is 20), acking the last of each
    // eight: 7, 15, 23, 31; then 32..39 without an ack.
    for (int chunk = 0; chunk < 5; ++chunk) {
      auto got = read_events(a, store, "p4", 8);
      first.insert(first.end(), got.begin(), got.end());
      if (chunk < 4)
        log.ack(a, store, "p4", got.back()["position"].get<int64_t>());
    }
    CHECK(positions_of(first) == range_of(0, 39));
    CHECK(log.last == 31);
  } // disconnects
  // The node notices the disconnect; then the subscription has no
  // subscriber and a durable checkpoint of 31.
  auto entry = await_subscribers(c, store, "p4", 0);
  CHECK(entry["checkpoint"] == 31);
  // Second connection: start_from applies only on creation; delivery
  // resumes after the checkpoint, so 32..39 come again.
  auto b = node.connect();
  auto r = ok(b, "save_subscription", persistent_params(store, "p4", "current"));
  CHECK(r["subscription"] == "p4");
  CHECK(r["checkpoint"] == 31);
  auto second = consume_acking(b, store, "p4", last, 10, log);
  writer.join();
  writer.check();
  CHECK(positions_of(second) == range_of(32, last));
  // Every event at least once over both connections.
  std::set<int64_t> all;
  for (auto& e : first)
    all.insert(e["position"].get<int64_t>());
  for (auto& e : second)
    all.insert(e["position"].get<int64_t>());
  CHECK(all.size() == static_cast<size_t>(last + 1));
  CHECK(log.last == last);
  expect_quiet(b, 200);
  // Acked up to the head: no lag.
  entry = subscription_entry(c, store, "p4");
  REQUIRE(entry.is_object());
  CHECK(entry["checkpoint"] == last);
  CHECK(entry["lag"] == 0);
  CHECK(entry["subscribers"] == 1);
  // Acking an old position again changes nothing and goes not backwards.
  log.ack(b, store, "p4", 10, false);
  CHECK(log.last == last);
}

TEST_CASE("a persistent subscriber that disconnects right after its acks, "
          "without waiting, loses nothing") {
  // Like the case above, but the next connection subscribes at once: the
  // node may still be tearing down the old one.
  node_process node;
  auto c = node.connect();
  const std::string store = "quick";
  create_store(c, store);
  append_many(c, store, "s", 60, 60); // 0..59
  checkpoint_log log;
  std::set<int64_t> seen;
  int64_t acked = -1;
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    auto a = node.connect();
    auto r = ok(a, "save_subscription", persistent_params(store, "q", "origin", 8));
    REQUIRE(r["checkpoint"].is_number_integer());
    auto cp = r["checkpoint"].get<int64_t>();
    CHECK(cp >= acked); // never behind an answered ack
    auto got = read_events(a, store, "q", 8, 15000);
    CHECK(got.front()["position"] == cp + 1);
    CHECK(positions_of(got) == range_of(cp + 1, cp + 8));
    for (auto& e : got)
      seen.insert(e["position"].get<int64_t>());
    // Ack the first five; the last three stay unacknowledged.
    acked = log.ack(a, store, "q", got[4]["position"].get<int64_t>());
  }
  CHECK(seen.size() == 5 * 5 + 3);
  CHECK(*seen.rbegin() == 5 * 5 + 2);
}

TEST_CASE("competing consumers share a persistent subscription; a leaving "
          "consumer's unacknowledged events go to the other") {
  node_process node;
  auto c = node.connect();
  const std::string store = "compete";
  create_store(c, store);
  auto a = node.connect();
  auto b = node.connect();
  auto params = persistent_params(store, "p5", "origin", 5);
  CHECK(ok(a, "save_subscription", params)["subscription"] == "p5");
  CHECK(ok(b, "save_subscription", params)["subscription"] == "p5");
  await_subscribers(c, store, "p5", 2);
  constexpr int64_t total = 200;
  background_writer::options wo;
  wo.port = node.port();
  wo.store = store;
  wo.total = total;
  wo.batch_max = 10;
  background_writer writer{wo};
  // A acks everything it gets; B acks its first three events, then nothing:
  // it fills its window of 5 and gets no more.
  std::vector<int64_t> got_a;
  std::vector<int64_t> got_b;
  std::set<int64_t> b_acked;
  checkpoint_log log_a;
  checkpoint_log log_b;
  auto covered = [&] {
    std::set<int64_t> u(got_a.begin(), got_a.end());
    u.insert(got_b.begin(), got_b.end());
    return u.size() == static_cast<size_t>(total);
  };
  auto deadline = clock_type::now() + std::chrono::seconds{60};
  int64_t a_unacked_max = -1;
  while (!covered()) {
    REQUIRE_MESSAGE(clock_type::now() < deadline,
                    "A got " << positions_text(got_a) << ", B got "
                             << positions_text(got_b));
    while (auto msg = next_notification(a, 20)) {
      got_a.push_back(event_of(*msg, store, "p5")["position"].get<int64_t>());
      a_unacked_max = std::max(a_unacked_max, got_a.back());
    }
    if (a_unacked_max >= 0) {
      // Events B holds keep the checkpoint below them.
      log_a.ack(a, store, "p5", a_unacked_max, false);
      a_unacked_max = -1;
    }
    while (auto msg = next_notification(b, 20)) {
      auto p = event_of(*msg, store, "p5")["position"].get<int64_t>();
      got_b.push_back(p);
      if (b_acked.size() < 3) {
        log_b.ack(b, store, "p5", p, false);
        b_acked.insert(p);
      }
    }
  }
  writer.join();
  writer.check();
  INFO("A got " << positions_text(got_a));
  INFO("B got " << positions_text(got_b));
  // Both took part, one event at a time; B stopped at its window.
  CHECK(got_a.size() > 0);
  CHECK(got_b.size() > b_acked.size());
  std::vector<int64_t> b_unacked;
  for (auto p : got_b)
    if (b_acked.count(p) == 0)
      b_unacked.push_back(p);
  CHECK(b_unacked.size() == 5);
  REQUIRE(!b_unacked.empty());
  // The checkpoint stays below the first event B holds.
  CHECK(log_a.last < b_unacked.front());
  auto entry = subscription_entry(c, store, "p5");
  REQUIRE(entry.is_object());
  CHECK(entry["subscribers"] == 2);
  CHECK(entry["checkpoint"].get<int64_t>() < b_unacked.front());
  // B leaves: A gets what B held.
  b.close();
  std::set<int64_t> missing(b_unacked.begin(), b_unacked.end());
  std::vector<int64_t> redelivered;
  deadline = clock_type::now() + std::chrono::seconds{30};
  while (!missing.empty()) {
    auto msg = next_notification(a, ms_left(deadline));
    std::vector<int64_t> still(missing.begin(), missing.end());
    REQUIRE_MESSAGE(msg.has_value(), "A never got " << positions_text(still)
                                                    << " after B left; got "
                                                    << positions_text(redelivered));
    auto p = event_of(*msg, store, "p5")["position"].get<int64_t>();
    redelivered.push_back(p);
    missing.erase(p);
  }
  CHECK(redelivered == b_unacked); // in position order
  log_a.ack(a, store, "p5", redelivered.back(), false);
  // Now everything is acked by someone: the checkpoint is the head.
  CHECK(log_a.last == total - 1);
  expect_quiet(a, 200);
  entry = await_subscribers(c, store, "p5", 1);
  CHECK(entry["checkpoint"] == total - 1);
}

TEST_CASE("get_subscriptions shows checkpoint, subscribers and lag") {
  node_process node;
  auto c = node.connect();
  const std::string store = "listing";
  create_store(c, store);
  CHECK(ok(c, "get_subscriptions", {{"store", store}})["subscriptions"]
        == json::array());
  append_many(c, store, "s", 20, 20); // 0..19
  auto a = node.connect();
  auto r = ok(a, "save_subscription", persistent_params(store, "p8", "origin", 100));
  CHECK(r["checkpoint"] == -1);
  read_events(a, store, "p8", 20);
  checkpoint_log log;
  CHECK(log.ack(a, store, "p8", 9) == 9);
  auto entry = subscription_entry(c, store, "p8");
  INFO("entry: " << brief(entry));
  REQUIRE(entry.is_object());
  CHECK(entry["name"] == "p8");
  CHECK(entry["type"] == "by_stream");
  CHECK(entry["selector"] == "$all");
  CHECK(entry["persistent"] == true);
  CHECK(entry["checkpoint"] == 9);
  CHECK(entry["subscribers"] == 1);
  CHECK(entry["lag"] == 10);
  // A second subscriber on the same subscription, and a transient one with
  // a pattern selector.
  auto b = node.connect();
  ok(b, "save_subscription", persistent_params(store, "p8", "origin", 100));
  auto t = node.connect();
  json pattern{{"event_type", "Tested"}, {"data", {{"i", 3}}}};
  auto tr = ok(t, "save_subscription", {{"store", store},
                                        {"type", "by_event_pattern"},
                                        {"selector", pattern},
                                        {"start_from", "origin"}});
  auto tid = tr["subscription"].get<std::string>();
  CHECK(tid.rfind("transient-", 0) == 0);
  read_events(t, store, tid, 1);
  entry = await_subscribers(c, store, "p8", 2);
  CHECK(entry["checkpoint"] == 9);
  CHECK(entry["lag"] == 10);
  auto te = subscription_entry(c, store, tid);
  INFO("transient entry: " << brief(te));
  REQUIRE(te.is_object());
  CHECK(te["name"] == "transient");
  CHECK(te["type"] == "by_event_pattern");
  CHECK(te["selector"] == pattern);
  CHECK(te["persistent"] == false);
  CHECK(te["subscribers"] == 1);
  // Both subscribers leave: the subscription stays with its checkpoint, and
  // its lag grows with the store.
  a.close();
  b.close();
  entry = await_subscribers(c, store, "p8", 0);
  CHECK(entry["checkpoint"] == 9);
  CHECK(entry["lag"] == 10);
  append_many(c, store, "s", 5, 5); // 20..24
  entry = subscription_entry(c, store, "p8");
  REQUIRE(entry.is_object());
  CHECK(entry["lag"] == 15);
  // The transient subscription ends with its connection.
  t.close();
  CHECK(eventually([&] { return subscription_entry(c, store, tid).is_null(); }));
  // Removing the persistent one deletes it, and tells a subscriber.
  auto d = node.connect();
  auto dr = ok(d, "save_subscription", persistent_params(store, "p8", "origin", 100));
  CHECK(dr["checkpoint"] == 9);
  read_events(d, store, "p8", 15);
  CHECK(ok(c, "remove_subscription", {{"store", store},
                                      {"type", "by_stream"},
                                      {"selector", "$all"},
                                      {"name", "p8"}})
        == json{{"removed", true}});
  auto dropped = next_notification(d, rpc_timeout_ms);
  REQUIRE(dropped.has_value());
  CHECK(dropped->value("method", "") == "subscription_dropped");
  CHECK((*dropped)["params"]
        == json{{"store", store}, {"subscription", "p8"}, {"reason", "removed"}});
  CHECK(subscription_entry(c, store, "p8").is_null());
  // Made again, it starts afresh.
  auto again = ok(c, "save_subscription", persistent_params(store, "p8", "current"));
  CHECK(again["checkpoint"] == 24);
}

TEST_CASE("a persistent subscription survives a restart of the node") {
  node_process node;
  const std::string store = "restart";
  int64_t acked = -1;
  {
    auto c = node.connect();
    create_store(c, store);
    append_many(c, store, "s", 30, 30); // 0..29
    auto a = node.connect();
    ok(a, "save_subscription", persistent_params(store, "p9"));
    auto got = read_events(a, store, "p9", 20);
    CHECK(positions_of(got) == range_of(0, 19));
    checkpoint_log log;
    acked = log.ack(a, store, "p9", 19);
    CHECK(acked == 19);
  }
  REQUIRE(stop_node(node) == 0);
  node.start();
  {
    auto c = node.connect();
    // The definition and the checkpoint are in the store.
    json entry;
    REQUIRE(eventually([&] {
      auto resp = c.call("get_subscriptions", {{"store", store}}, rpc_timeout_ms);
      if (!resp || !resp->contains("result"))
        return false; // the store may still be starting
      for (auto& s : (*resp)["result"]["subscriptions"])
        if (s.value("name", "") == "p9")
          entry = s;
      return entry.is_object();
    }));
    INFO("entry: " << brief(entry));
    CHECK(entry["checkpoint"] == 19);
    CHECK(entry["persistent"] == true);
    CHECK(entry["subscribers"] == 0);
    CHECK(entry["lag"] == 10);
    auto b = node.connect();
    auto r = ok(b, "save_subscription", persistent_params(store, "p9"));
    CHECK(r["checkpoint"] == 19);
    auto got = read_events(b, store, "p9", 10);
    CHECK(positions_of(got) == range_of(20, 29));
    append_many(c, store, "s", 5, 5); // 30..34
    got = read_events(b, store, "p9", 5);
    CHECK(positions_of(got) == range_of(30, 34));
    // An answered ack is durable: even SIGKILL right after it keeps it.
    checkpoint_log log;
    log.last = 19;
    acked = log.ack(b, store, "p9", 27);
    CHECK(acked == 27);
  }
  node.kill9();
  node.start();
  {
    auto b = node.connect();
    json r;
    REQUIRE(eventually([&] {
      auto resp = b.call("save_subscription", persistent_params(store, "p9"),
                         rpc_timeout_ms);
      if (!resp)
        return false;
      r = *resp;
      return r.contains("result"); // unavailable while the store starts
    }));
    INFO("save_subscription after SIGKILL: " << brief(r));
    CHECK(r["result"]["checkpoint"] == 27);
    auto got = read_events(b, store, "p9", 7);
    CHECK(positions_of(got) == range_of(28, 34));
    expect_quiet(b, 200);
  }
  REQUIRE(stop_node(node) == 0);
}
