#pragma once

// A steady append load for the cluster tests: several writer threads, each
// with its own JSON client and its own streams, appending small batches with
// exact expected versions and recording what every batch came to.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/client/json_client.hpp"
#include "tests/integration/history_check.hpp"

namespace cxesdb::tests {

/// How a `workload` writes.
struct load_options {
  /// The store the writers append to.
  std::string store;

  /// Writer threads, each with its own connection.
  size_t writers = 6;

  /// Streams per writer; a writer is the only one to write its streams, so
  /// it always knows their versions.
  size_t streams_per_writer = 2;

  /// Events per batch at most (1..batch_max, varying).
  size_t batch_max = 3;

  /// How long one call waits for its answer before the writer gives up on
  /// the connection and tries the next node.
  int call_timeout_ms = 5000;

  /// How long a writer waits before it retries after `unavailable`,
  /// `timeout` or `overloaded`.
  std::chrono::milliseconds retry_pause{20};

  /// The address of each port's node, in the order of the ports; empty:
  /// 127.0.0.1 for all.
  std::vector<std::string> hosts;

  /// Prefix of the stream names (`<prefix>-w<writer>-s<stream>`).
  std::string prefix = "load";
};

/// Writers that append until stopped. Every batch is retried with the same
/// event ids and the same expected version until it is acknowledged, so a
/// batch whose first attempt had an unknown outcome (lost connection, no
/// answer, `timeout`) is written at most once by the idempotence rule
/// (protocol.md section 5): a batch is either acknowledged or, when the run
/// ends before that, unknown.
///
/// Writers hold the client ports given at the start, start on node
/// `writer % ports` and move to the next port when a connection fails or a
/// call gets no answer. Ports of 0 (nodes not running) are skipped.
class workload {
public:
  using clock_type = std::chrono::steady_clock;

  workload(std::vector<uint16_t> ports, load_options opts)
    : ports_(std::move(ports)), opts_(std::move(opts)) {
  }

  workload(const workload&) = delete;
  workload& operator=(const workload&) = delete;

  ~workload() {
    stop();
  }

  /// Starts the writer threads.
  void start() {
    for (size_t w = 0; w < opts_.writers; ++w)
      threads_.emplace_back([this, w] { run_writer(w); });
  }

  /// Stops the writers after their current call and joins them.
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
    threads_.clear();
  }

  /// Acknowledged batches so far (while running, too).
  size_t acked() const noexcept {
    return acked_count_;
  }

  /// The version of the last acknowledged append to `stream`, -1 when none
  /// was; while running, too (a reader checks its reads against it).
  int64_t acked_version(const std::string& stream) const {
    std::lock_guard<std::mutex> guard{acked_mtx_};
    auto i = acked_versions_.find(stream);
    return i == acked_versions_.end() ? -1 : i->second;
  }

  /// Every batch sent, for the history checker. Call after `stop`.
  std::vector<sent_append> history() const {
    std::vector<sent_append> out;
    for (auto& b : batches_)
      out.push_back(b.sent);
    return out;
  }

  /// The highest acknowledged position, -1 when none. Call after `stop`.
  int64_t last_acked_position() const {
    int64_t out = -1;
    for (auto& b : batches_)
      if (b.sent.acked && b.sent.position > out)
        out = b.sent.position;
    return out;
  }

  /// The time from `t` to the first acknowledgement of an attempt sent at or
  /// after `t`; nothing when there is none. Call after `stop`.
  std::optional<std::chrono::milliseconds>
  first_ack_after(clock_type::time_point t) const {
    std::optional<clock_type::time_point> first;
    for (auto& b : batches_)
      if (b.sent.acked && b.attempt_sent >= t
          && (!first || b.answered < *first))
        first = b.answered;
    if (!first)
      return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(*first - t);
  }

  /// Answers no writer should ever get (anything but success, `unavailable`,
  /// `timeout` and `overloaded`), one line each. Call after `stop`.
  std::vector<std::string> unexpected() const {
    return unexpected_;
  }

  /// Retryable error answers by reason, for the test's log. Call after
  /// `stop`.
  std::string retry_summary() const {
    return "unavailable " + std::to_string(unavailable_) + ", timeout "
           + std::to_string(timeouts_) + ", overloaded "
           + std::to_string(overloaded_) + ", no answer "
           + std::to_string(no_answer_);
  }

private:
  struct batch {
    sent_append sent;
    clock_type::time_point attempt_sent; ///< of the acknowledged attempt
    clock_type::time_point answered;
  };

  /// Connects `c` to the next running node after `*node`; false when none
  /// accepts.
  bool reconnect(gateway::json_client& c, size_t& node) {
    c.close();
    for (size_t k = 0; k < ports_.size(); ++k) {
      node = (node + 1) % ports_.size();
      if (ports_[node] == 0)
        continue;
      auto& host = node < opts_.hosts.size() ? opts_.hosts[node]
                                             : loopback_host;
      if (!c.connect(host, ports_[node], 1000))
        return true;
    }
    return false;
  }

  void run_writer(size_t w) {
    gateway::json_client c;
    size_t node = (w + ports_.size() - 1) % ports_.size(); // reconnect: +1
    std::vector<int64_t> versions(opts_.streams_per_writer, -1);
    std::vector<batch> mine;
    std::vector<std::string> bad;
    size_t unavailable = 0, timeouts = 0, overloaded = 0, no_answer = 0;
    uint64_t id_counter = 0;
    for (size_t n = 0; !stop_; ++n) {
      auto k = n % opts_.streams_per_writer;
      batch b;
      b.sent.stream = opts_.prefix + "-w" + std::to_string(w) + "-s"
                      + std::to_string(k);
      auto size = 1 + (n * 7 + w) % opts_.batch_max;
      auto events = nlohmann::json::array();
      for (size_t i = 0; i < size; ++i) {
        auto id = make_id(w, ++id_counter);
        b.sent.event_ids.push_back(id);
        events.push_back({{"event_id", id},
                          {"event_type", "Loaded"},
                          {"data", {{"writer", w}, {"n", n}, {"i", i}}}});
      }
      nlohmann::json params{{"store", opts_.store},
                            {"stream", b.sent.stream},
                            {"expected_version", versions[k]},
                            {"events", events}};
      while (!stop_) {
        if (!c.connected() && !reconnect(c, node)) {
          std::this_thread::sleep_for(opts_.retry_pause);
          continue;
        }
        auto sent_at = clock_type::now();
        auto resp = c.call("append_events", params, opts_.call_timeout_ms);
        if (!resp) { // no answer: maybe written; retry elsewhere
          ++no_answer;
          reconnect(c, node);
          continue;
        }
        if (resp->contains("result")) {
          auto& r = (*resp)["result"];
          b.sent.acked = true;
          b.sent.version = r.value("version", int64_t{-2});
          auto pos = r.value("position", nlohmann::json{});
          b.sent.position = pos.is_number_integer() ? pos.get<int64_t>() : -2;
          b.attempt_sent = sent_at;
          b.answered = clock_type::now();
          versions[k] = b.sent.version;
          {
            std::lock_guard<std::mutex> guard{acked_mtx_};
            auto& v = acked_versions_[b.sent.stream];
            v = std::max(v, b.sent.version);
          }
          ++acked_count_;
          break;
        }
        auto reason = resp->value("error", nlohmann::json::object())
                        .value("data", nlohmann::json::object())
                        .value("reason", std::string{"<none>"});
        if (reason == "unavailable" || reason == "timeout"
            || reason == "overloaded") {
          (reason == "unavailable" ? unavailable
           : reason == "timeout"   ? timeouts
                                   : overloaded)++;
          std::this_thread::sleep_for(opts_.retry_pause);
          continue;
        }
        bad.push_back("writer " + std::to_string(w) + ", stream "
                      + b.sent.stream + ", expected version "
                      + std::to_string(versions[k]) + ": "
                      + resp->dump().substr(0, 400));
        // Carry on from the stream's real version; the batch stays unknown.
        auto cur = (*resp)["error"]["data"].value("current_version",
                                                  nlohmann::json{});
        if (cur.is_number_integer())
          versions[k] = cur.get<int64_t>();
        std::this_thread::sleep_for(opts_.retry_pause);
        break;
      }
      mine.push_back(std::move(b));
    }
    std::lock_guard<std::mutex> guard{mtx_};
    batches_.insert(batches_.end(), mine.begin(), mine.end());
    unexpected_.insert(unexpected_.end(), bad.begin(), bad.end());
    unavailable_ += unavailable;
    timeouts_ += timeouts;
    overloaded_ += overloaded;
    no_answer_ += no_answer;
  }

  /// A UUID-shaped event id unique to this workload, writer and batch:
  /// readable in a failing check's message.
  static std::string make_id(size_t writer, uint64_t counter) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8%03zx-%012llx",
                  writer & 0xfff, static_cast<unsigned long long>(counter));
    return buf;
  }

  static inline const std::string loopback_host = "127.0.0.1";

  std::vector<uint16_t> ports_;
  load_options opts_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> acked_count_{0};
  std::vector<std::thread> threads_;
  std::mutex mtx_;
  std::vector<batch> batches_;
  mutable std::mutex acked_mtx_;
  std::map<std::string, int64_t> acked_versions_;
  std::vector<std::string> unexpected_;
  size_t unavailable_ = 0, timeouts_ = 0, overloaded_ = 0, no_answer_ = 0;
};

} // namespace cxesdb::tests
