#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "gateway/client/json_client.hpp"
#include "tools/bench/append_workload.hpp"
#include "tools/bench/commands.hpp"

namespace cxesdb::tools {

namespace {

/// How long the subscriber polls its socket before checking for the end.
constexpr int subscriber_poll_ms = 100;

/// Pairs each event's append acknowledgement with its delivery to the live
/// subscriber and records the difference. Called from the load loop's
/// thread (acks) and the subscriber's thread (deliveries).
class latency_matcher {
public:
  explicit latency_matcher(int64_t window_start_ns)
    : window_start_ns_(window_start_ns) {
  }

  void on_ack(uint64_t first_seq, uint32_t n, int64_t t) {
    std::lock_guard<std::mutex> guard(mtx_);
    for (uint64_t seq = first_seq; seq < first_seq + n; ++seq) {
      auto early = early_.find(seq);
      if (early == early_.end()) {
        acked_.emplace(seq, t);
        continue;
      }
      // Delivered before its ack arrived: the latency is clamped to 0.
      if (t >= window_start_ns_) {
        ++before_ack_;
        record(0);
      }
      early_.erase(early);
    }
  }

  void on_delivery(uint64_t seq, int64_t t) {
    std::lock_guard<std::mutex> guard(mtx_);
    auto i = acked_.find(seq);
    if (i == acked_.end()) {
      early_.emplace(seq, t);
      return;
    }
    if (i->second >= window_start_ns_)
      record(static_cast<uint64_t>(std::max<int64_t>(0, t - i->second)));
    acked_.erase(i);
  }

  /// Acknowledged events not delivered yet, acked in the window.
  uint64_t undelivered() {
    std::lock_guard<std::mutex> guard(mtx_);
    uint64_t n = 0;
    for (auto& [seq, t] : acked_)
      if (t >= window_start_ns_)
        ++n;
    return n;
  }

  histogram latency() {
    std::lock_guard<std::mutex> guard(mtx_);
    return e2e_;
  }

  uint64_t before_ack() {
    std::lock_guard<std::mutex> guard(mtx_);
    return before_ack_;
  }

private:
  void record(uint64_t ns) {
    e2e_.record(ns);
  }

  std::mutex mtx_;
  int64_t window_start_ns_;
  std::unordered_map<uint64_t, int64_t> acked_;
  std::unordered_map<uint64_t, int64_t> early_;
  histogram e2e_;
  uint64_t before_ack_ = 0;
};

} // namespace

/// `subscribe`: end-to-end latency from an append's acknowledgement to the
/// delivery of its events to one live `$all` subscriber, under an append
/// load of --rate events/s.
int run_subscribe(flags& f) {
  auto lo = load_options_of(f);
  append_options ao;
  ao.streams = static_cast<uint64_t>(
    f.get_int("streams", 1000, 1, append_options::streams_max));
  ao.event_bytes = static_cast<size_t>(
    f.get_int("event-bytes", 256, append_options::event_bytes_min,
              append_options::event_bytes_max));
  ao.batch = static_cast<size_t>(
    f.get_int("batch", 1, 1, append_options::batch_max));
  ao.store = f.get("store", "");
  ao.seed = static_cast<uint64_t>(f.get_int("seed", 1, 0, INT64_MAX));
  ao.run_tag = fresh_run_tag();
  ao.stream_prefix = f.get("stream-prefix", "benchsub-");
  lo.rate_events_per_s = f.get_double("rate", 1000, 1, 1e9);
  auto drain_ms = f.get_int("drain-ms", 5000, 0, 600000);
  bool json = f.has("json");
  f.check_all_used();

  const auto& ep = lo.endpoints.front();
  gateway::json_client sub;
  secure(sub, lo.security);
  if (auto err = sub.connect(ep.host, ep.port)) {
    std::fprintf(stderr, "cxesdb-bench: cannot connect to %s:%u: %s\n",
                 ep.host.c_str(), ep.port, err->c_str());
    return 1;
  }
  nlohmann::json params{{"type", "by_stream"},
                        {"selector", "$all"},
                        {"start_from", "current"}};
  if (!ao.store.empty())
    params["store"] = ao.store;
  auto resp = sub.call("save_subscription", params);
  if (!resp) {
    std::fprintf(stderr, "cxesdb-bench: no answer to save_subscription\n");
    return 1;
  }
  if (resp->contains("error")) {
    auto reason = (*resp)["error"].value("data", nlohmann::json::object())
                    .value("reason", std::string{});
    if (reason == "method_not_found") {
      std::fprintf(stderr, "cxesdb-bench: this node does not implement "
                           "subscriptions (save_subscription answered "
                           "method_not_found)\n");
      return exit_unsupported;
    }
    std::fprintf(stderr, "cxesdb-bench: save_subscription failed: %s\n",
                 resp->dump().c_str());
    return 1;
  }

  event_ids ids(ao.run_tag);
  latency_matcher matcher(now_ns() + static_cast<int64_t>(lo.warmup_s * 1e9));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> foreign{0};
  std::thread subscriber([&] {
    constexpr std::string_view key = "\"event_id\":\"";
    while (!stop.load()) {
      auto line = sub.read_line(subscriber_poll_ms);
      if (!line) {
        if (!sub.connected())
          break;
        continue;
      }
      auto t = now_ns();
      if (line->find("\"method\":\"event\"") == std::string::npos)
        continue;
      auto at = line->find(key);
      if (at == std::string::npos)
        continue;
      auto seq = ids.seq_of(std::string_view(*line).substr(at + key.size(), 36));
      if (seq)
        matcher.on_delivery(*seq, t);
      else
        ++foreign;
    }
  });

  append_workload w(ao, lo.clients);
  w.on_ack = [&](uint64_t first, uint32_t n, int64_t t) {
    matcher.on_ack(first, n, t);
  };
  report r;
  r.command = "subscribe";
  r.config = {{"clients", lo.clients},
              {"rate", lo.rate_events_per_s},
              {"duration_s", lo.duration_s},
              {"warmup_s", lo.warmup_s},
              {"streams", ao.streams},
              {"event_bytes", ao.event_bytes},
              {"batch", ao.batch},
              {"store", ao.store.empty() ? "(default)" : ao.store}};
  r.load = run_load(lo, w);
  // Let the last deliveries arrive.
  auto drain_end = now_ns() + drain_ms * 1000000;
  while (matcher.undelivered() > 0 && now_ns() < drain_end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  subscriber.join();
  bool subscriber_alive = sub.connected();
  auto e2e = matcher.latency();
  auto ms = [](uint64_t ns) { return std::round(ns / 1e3) / 1e3; };
  r.extra["delivered"] = e2e.count();
  r.extra["undelivered"] = matcher.undelivered();
  r.extra["delivered_before_ack"] = matcher.before_ack();
  r.extra["foreign_events"] = foreign.load();
  r.extra["e2e_p50_ms"] = ms(e2e.quantile_ns(0.5));
  r.extra["e2e_p90_ms"] = ms(e2e.quantile_ns(0.9));
  r.extra["e2e_p99_ms"] = ms(e2e.quantile_ns(0.99));
  r.extra["e2e_p999_ms"] = ms(e2e.quantile_ns(0.999));
  r.extra["e2e_max_ms"] = ms(e2e.max_ns());
  r.extra["subscriber_connected"] = subscriber_alive;
  auto status = finish(r, json);
  if (!subscriber_alive)
    status = 1;
  return status;
}

} // namespace cxesdb::tools
