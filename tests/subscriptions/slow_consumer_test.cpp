// A subscriber that never reads, against a real cxesdb-node over TCP: the
// node must not buffer without bound for it, writers must not stall because
// of it, and its transient subscription must be dropped with reason
// slow_consumer once more than --max-subscriber-buffer-bytes are unsent on
// its connection; a persistent subscription on the same connection is
// bounded by max_in_flight instead and stays.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/subscriptions/subscription_support.hpp"

using namespace cxesdb::tests;

namespace {

constexpr size_t events_per_phase = 20000;
constexpr size_t batch_events = 250;
constexpr size_t payload_bytes = 1000;

/// Appends `n` events of about 1 KB in batches; returns the seconds it took.
double append_phase(json_client& w, const std::string& store, size_t n,
                    size_t first) {
  std::string pad(payload_bytes, 'p');
  auto start = clock_type::now();
  for (size_t done = 0; done < n; done += batch_events) {
    auto events = json::array();
    for (size_t i = 0; i < batch_events; ++i)
      events.push_back(
        make_event("Big", json{{"n", first + done + i}, {"pad", pad}}));
    append(w, store, "big-" + std::to_string(done % 7), std::move(events));
  }
  return seconds_since(start);
}

} // namespace

TEST_CASE("a subscriber that never reads is dropped as a slow consumer "
          "without growing the node's memory or stalling writers") {
  node_options opts;
  opts.extra_args = {"--max-subscriber-buffer-bytes", "1048576"};
  node_process node{opts};
  auto c = node.connect();
  const std::string store = "slow";
  create_store(c, store);
  auto w = node.connect();
  // Warm-up, so that the baseline does not pay for first-time allocations.
  append_phase(w, store, 2000, 0);
  // Baseline: nobody subscribed.
  auto rss_before_baseline = rss_kib(node.pid());
  auto baseline_s = append_phase(w, store, events_per_phase, 2000);
  auto rss_after_baseline = rss_kib(node.pid());
  auto head = head_of(c, store);
  REQUIRE(head == static_cast<int64_t>(2000 + events_per_phase - 1));
  // The stuck connection: a transient subscription and a persistent one,
  // both from the current head; it reads their answers, then nothing.
  auto stuck = node.connect();
  auto tr = ok(stuck, "save_subscription", {{"store", store},
                                            {"type", "by_stream"},
                                            {"selector", "$all"},
                                            {"start_from", "current"}});
  auto tid = tr["subscription"].get<std::string>();
  constexpr int persistent_window = 100;
  auto pr = ok(stuck, "save_subscription", {{"store", store},
                                            {"type", "by_stream"},
                                            {"selector", "$all"},
                                            {"name", "stuck-p"},
                                            {"start_from", "current"},
                                            {"max_in_flight", persistent_window}});
  CHECK(pr["checkpoint"] == head);
  auto rss_before_stuck = rss_kib(node.pid());
  auto stuck_start = clock_type::now();
  auto stuck_s = append_phase(w, store, events_per_phase, 2000 + events_per_phase);
  auto rss_after_stuck = rss_kib(node.pid());
  auto baseline_rate = events_per_phase / baseline_s;
  auto stuck_rate = events_per_phase / stuck_s;
  MESSAGE("append rate without a subscriber: " << baseline_rate
                                               << " events/s (" << baseline_s
                                               << " s for " << events_per_phase
                                               << " events of ~1 KB)");
  MESSAGE("append rate with a stuck subscriber: " << stuck_rate << " events/s ("
                                                  << stuck_s << " s)");
  MESSAGE("node VmRSS: " << rss_before_baseline << " KiB before the baseline, "
                         << rss_after_baseline << " KiB after it, "
                         << rss_before_stuck << " KiB before the stuck phase, "
                         << rss_after_stuck << " KiB after it");
  // The writer finishes in good time: the stuck reader does not hold it up.
  // (Timing on a shared machine is noisy; this is a generous deadline, not a
  // benchmark.)
  CHECK(seconds_since(stuck_start) < 90.0);
  WARN_MESSAGE(stuck_rate * 3 >= baseline_rate,
               "appends were more than 3x slower with a stuck subscriber");
  // Memory: ~22 MB of notifications were written for the stuck connection;
  // holding them would show. The same appends cost memory of their own
  // without any subscriber (the Raft log keeps its entries in memory until
  // it is compacted: see docs/raft.md), so the stuck phase is measured
  // against the baseline phase. The bound leaves room for SQLite's page
  // cache and allocator noise.
  constexpr int64_t rss_growth_max_kib = 16 * 1024;
  auto baseline_growth = std::max<int64_t>(rss_after_baseline
                                             - rss_before_baseline,
                                           0);
  auto stuck_growth = rss_after_stuck - rss_before_stuck - baseline_growth;
  CHECK_MESSAGE(stuck_growth < rss_growth_max_kib,
                "VmRSS grew by " << stuck_growth
                                 << " KiB more while a subscriber did not "
                                    "read than for the same appends without");
  // Now read what the stuck connection got: events in order from head + 1,
  // then subscription_dropped for the transient subscription; the
  // persistent one got exactly its window and stays.
  int64_t next_transient = head + 1;
  int64_t next_persistent = head + 1;
  bool dropped = false;
  size_t transient_after_drop = 0;
  for (;;) {
    auto msg = next_notification(stuck, dropped ? 500 : rpc_timeout_ms);
    if (!msg)
      break;
    auto method = msg->value("method", "");
    if (method == "subscription_dropped") {
      INFO("notification: " << brief(*msg));
      CHECK_FALSE(dropped);
      CHECK((*msg)["params"] == json{{"store", store},
                                     {"subscription", tid},
                                     {"reason", "slow_consumer"}});
      dropped = true;
      continue;
    }
    REQUIRE(method == "event");
    auto sub = (*msg)["params"].value("subscription", "");
    auto p = (*msg)["params"]["event"]["position"].get<int64_t>();
    if (sub == tid) {
      CHECK(p == next_transient);
      next_transient = p + 1;
      if (dropped)
        ++transient_after_drop;
    } else {
      REQUIRE(sub == "stuck-p");
      CHECK(p == next_persistent);
      next_persistent = p + 1;
    }
  }
  MESSAGE("the stuck connection held " << next_transient - head - 1
                                       << " transient events before the drop");
  CHECK(dropped);
  CHECK(transient_after_drop == 0);
  CHECK(next_transient > head + 1);
  CHECK(next_transient <= head + 1 + static_cast<int64_t>(events_per_phase));
  CHECK(next_persistent == head + 1 + persistent_window);
  // The connection works, the transient subscription is gone, the
  // persistent one still has it as subscriber and continues on acks.
  expect_alive(stuck);
  expect_not_found(stuck, "unsubscribe",
                   {{"store", store}, {"subscription", tid}}, "subscription");
  CHECK(subscription_entry(c, store, tid).is_null());
  auto entry = subscription_entry(c, store, "stuck-p");
  REQUIRE(entry.is_object());
  CHECK(entry["subscribers"] == 1);
  auto ack = ok(stuck, "ack_event", {{"store", store},
                                     {"subscription", "stuck-p"},
                                     {"position", next_persistent - 1}});
  CHECK(ack["checkpoint"] == next_persistent - 1);
  auto more = read_events(stuck, store, "stuck-p", persistent_window);
  CHECK(more.front()["position"] == next_persistent);
  // The writer's connection never saw anything but its answers.
  expect_quiet(w, 50);
}
