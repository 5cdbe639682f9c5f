#pragma once

// Helpers for the subscription integration tests: reading event
// notifications off a connection, appending in bulk, a writer thread, and the
// node's memory use. Include after doctest/doctest.h.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/test_support.hpp"

namespace cxesdb::tests {

using clock_type = std::chrono::steady_clock;

/// Milliseconds left until `deadline` (0 when it passed).
inline int ms_left(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

/// Seconds since `start`, for rates in MESSAGE lines.
inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Reads the next message, which must be a notification (no `id`: the tests
/// only send requests through `call`, which keeps responses for itself).
/// Nothing on timeout or a closed connection.
inline std::optional<json> next_notification(json_client& c, int timeout_ms) {
  auto line = c.read_line(timeout_ms);
  if (!line)
    return std::nullopt;
  auto j = json::parse(*line, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << *line);
  REQUIRE_MESSAGE(j.is_object(), "not an object: " << brief(j));
  CHECK_MESSAGE(!j.contains("id"), "unexpected response: " << brief(j));
  CHECK_MESSAGE(j.value("jsonrpc", "") == "2.0", brief(j));
  return j;
}

/// True for an `event` notification of `subscription`.
inline bool is_event_of(const json& n, const std::string& subscription) {
  return n.value("method", "") == "event" && n.contains("params")
         && n["params"].is_object()
         && n["params"].value("subscription", "") == subscription;
}

/// Checks the shape of an event notification of `store` and `subscription`
/// and returns its event.
inline json event_of(const json& n, const std::string& store,
                     const std::string& subscription) {
  INFO("notification: " << brief(n));
  REQUIRE(n.value("method", "") == "event");
  REQUIRE(n.contains("params"));
  auto& p = n["params"];
  REQUIRE(p.is_object());
  CHECK(p.value("store", "") == store);
  CHECK(p.value("subscription", "") == subscription);
  REQUIRE(p.contains("event"));
  auto& e = p["event"];
  REQUIRE(e.is_object());
  REQUIRE(e.contains("position"));
  REQUIRE(e["position"].is_number_integer());
  return e;
}

/// Reads exactly `n` events of `subscription` (the connection must receive
/// nothing else meanwhile); fails the test case when they do not all arrive
/// before the deadline.
inline std::vector<json> read_events(json_client& c, const std::string& store,
                                     const std::string& subscription, size_t n,
                                     int timeout_ms = rpc_timeout_ms) {
  std::vector<json> out;
  auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
  while (out.size() < n) {
    auto msg = next_notification(c, ms_left(deadline));
    REQUIRE_MESSAGE(msg.has_value(), "only " << out.size() << " of " << n
                                             << " events of " << subscription
                                             << " arrived in time");
    out.push_back(event_of(*msg, store, subscription));
  }
  return out;
}

/// Like read_events, but does not stop the test case: returns what arrived
/// before the deadline (the caller checks the count).
inline std::vector<json> collect_events(json_client& c, const std::string& store,
                                        const std::string& subscription,
                                        size_t n, int timeout_ms) {
  std::vector<json> out;
  auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
  while (out.size() < n) {
    auto msg = next_notification(c, ms_left(deadline));
    if (!msg)
      break;
    out.push_back(event_of(*msg, store, subscription));
  }
  return out;
}

/// Reads events of `subscription` until one at `position` or beyond arrived;
/// returns all of them.
inline std::vector<json> read_events_through(json_client& c,
                                             const std::string& store,
                                             const std::string& subscription,
                                             int64_t position,
                                             int timeout_ms = rpc_timeout_ms) {
  std::vector<json> out;
  auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
  while (out.empty() || out.back()["position"].get<int64_t>() < position) {
    auto msg = next_notification(c, ms_left(deadline));
    REQUIRE_MESSAGE(msg.has_value(),
                    "no event at position " << position << " of "
                                            << subscription << " after "
                                            << out.size() << " events");
    out.push_back(event_of(*msg, store, subscription));
  }
  return out;
}

/// Requires that nothing arrives on `c` for `quiet_ms`: used after the last
/// expected event, to catch duplicates and events that must not match.
inline void expect_quiet(json_client& c, int quiet_ms = 300) {
  auto msg = c.read_line(quiet_ms);
  CHECK_MESSAGE(!msg.has_value(), "unexpected message: " << msg.value_or(""));
}

/// The positions of `events`, in the order they arrived.
inline std::vector<int64_t> positions_of(const std::vector<json>& events) {
  std::vector<int64_t> out;
  for (auto& e : events)
    out.push_back(e["position"].get<int64_t>());
  return out;
}

/// `first`, `first + 1`, ..., `last`.
inline std::vector<int64_t> range_of(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (auto p = first; p <= last; ++p)
    out.push_back(p);
  return out;
}

/// Positions as text for failure messages (runs are shortened to a-b).
inline std::string positions_text(const std::vector<int64_t>& ps) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < ps.size();) {
    auto j = i;
    while (j + 1 < ps.size() && ps[j + 1] == ps[j] + 1)
      ++j;
    if (i > 0)
      out << ',';
    out << ps[i];
    if (j > i)
      out << '-' << ps[j];
    i = j + 1;
  }
  out << ']';
  return out.str();
}

/// Appends `events` to `stream` with expected_version "any"; returns the
/// result ({version, position}).
inline json append(json_client& c, const std::string& store,
                   const std::string& stream, json events) {
  return ok(c, "append_events", {{"store", store},
                                 {"stream", stream},
                                 {"expected_version", "any"},
                                 {"events", std::move(events)}});
}

/// Appends `n` small events to `stream` in batches of `batch`; returns the
/// position of the last one.
inline int64_t append_many(json_client& c, const std::string& store,
                           const std::string& stream, size_t n,
                           size_t batch = 500, const std::string& type = "Tested") {
  int64_t last = -1;
  for (size_t done = 0; done < n;) {
    auto k = std::min(batch, n - done);
    auto r = append(c, store, stream,
                    make_events(k, type, static_cast<int>(done)));
    REQUIRE(r["position"].is_number_integer());
    last = r["position"].get<int64_t>();
    done += k;
  }
  return last;
}

/// Creates a store and requires success.
inline void create_store(json_client& c, const std::string& store) {
  auto r = ok(c, "create_store", {{"store", store}});
  CHECK(r.value("store", "") == store);
}

/// The store's head: the position of its last event (-1 when empty).
inline int64_t head_of(json_client& c, const std::string& store) {
  auto r = ok(c, "read_all", {{"store", store},
                              {"from_position",
                               std::numeric_limits<int64_t>::max()},
                              {"count", 1},
                              {"direction", "backward"}});
  if (r["events"].empty())
    return -1;
  return r["events"][0]["position"].get<int64_t>();
}

/// The entry of get_subscriptions for `subscription` (its id), or null.
inline json subscription_entry(json_client& c, const std::string& store,
                               const std::string& subscription) {
  auto r = ok(c, "get_subscriptions", {{"store", store}});
  REQUIRE(r.contains("subscriptions"));
  REQUIRE(r["subscriptions"].is_array());
  for (auto& s : r["subscriptions"])
    if (s.value("subscription", "") == subscription)
      return s;
  return nullptr;
}

/// Resident set size of a process in KiB (VmRSS), or -1.
inline int64_t rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6));
  return -1;
}

/// A thread that appends `total` events to a store over its own connection,
/// in batches of `batch_min`..`batch_max` events, spread round robin over
/// `streams` streams named `<prefix>-<i>`. Assertions are not made on this
/// thread: errors are recorded and checked by the test with `check()`.
class background_writer {
public:
  struct options {
    uint16_t port = 0;
    std::string store;
    std::string prefix = "w";
    size_t streams = 3;
    size_t total = 1000;
    size_t batch_min = 1;
    size_t batch_max = 50;
    size_t payload_bytes = 16;
    uint64_t seed = 1;
  };

  explicit background_writer(options opts) : opts_(std::move(opts)) {
    thread_ = std::thread{[this] { run(); }};
  }

  background_writer(const background_writer&) = delete;
  background_writer& operator=(const background_writer&) = delete;

  ~background_writer() {
    stop_ = true;
    join();
  }

  /// Waits for the writer to finish.
  void join() {
    if (thread_.joinable())
      thread_.join();
  }

  /// Events appended and acknowledged so far.
  size_t appended() const {
    return appended_.load();
  }

  /// Whether every event was written.
  bool finished() const {
    return finished_.load();
  }

  /// Seconds the writer took (after it finished).
  double seconds() const {
    return seconds_;
  }

  /// Fails the test case when the writer hit an error. Call after join().
  void check() {
    std::lock_guard<std::mutex> guard{mtx_};
    CHECK_MESSAGE(error_.empty(), "writer: " << error_);
    CHECK(appended_.load() == opts_.total);
  }

private:
  void fail(std::string what) {
    std::lock_guard<std::mutex> guard{mtx_};
    error_ = std::move(what);
  }

  void run() {
    auto start = clock_type::now();
    json_client c;
    if (auto e = c.connect("127.0.0.1", opts_.port, 5000)) {
      fail(*e);
      return;
    }
    uint64_t x = opts_.seed * 6364136223846793005ull + 1442695040888963407ull;
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    std::string pad(opts_.payload_bytes, 'x');
    size_t stream = 0;
    while (appended_ < opts_.total && !stop_) {
      auto span = opts_.batch_max - opts_.batch_min + 1;
      auto k = std::min(opts_.batch_min + next() % span,
                        opts_.total - appended_.load());
      auto events = json::array();
      for (size_t i = 0; i < k; ++i)
        events.push_back(make_event(
          "Written", json{{"n", appended_.load() + i}, {"pad", pad}}));
      auto name = opts_.prefix + "-" + std::to_string(stream++ % opts_.streams);
      json params{{"store", opts_.store},
                  {"stream", name},
                  {"expected_version", "any"},
                  {"events", std::move(events)}};
      auto resp = c.call("append_events", params, rpc_timeout_ms);
      if (!resp) {
        fail("no answer to append_events");
        return;
      }
      if (!resp->contains("result")) {
        fail("append_events failed: " + brief(*resp));
        return;
      }
      appended_ += k;
    }
    seconds_ = seconds_since(start);
    finished_ = appended_ == opts_.total;
  }

  options opts_;
  std::atomic<size_t> appended_{0};
  std::atomic<bool> finished_{false};
  std::atomic<bool> stop_{false};
  double seconds_ = 0;
  std::mutex mtx_;
  std::string error_;
  std::thread thread_;
};

/// Polls `pred` every 20 ms until it holds or `timeout_ms` passed.
template <class Predicate>
bool eventually(Predicate pred, int timeout_ms = rpc_timeout_ms) {
  auto deadline = clock_type::now() + std::chrono::milliseconds{timeout_ms};
  for (;;) {
    if (pred())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

} // namespace cxesdb::tests
