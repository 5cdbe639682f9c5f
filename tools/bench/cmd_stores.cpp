#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "gateway/client/json_client.hpp"
#include "tools/bench/commands.hpp"
#include "tools/bench/proc_stat.hpp"

namespace cxesdb::tools {

namespace {

/// Reason tag of an error response, or "no_answer".
std::string reason_of(const std::optional<nlohmann::json>& resp) {
  if (!resp)
    return "no_answer";
  return resp->value("error", nlohmann::json::object())
    .value("data", nlohmann::json::object())
    .value("reason", std::string{reason::malformed});
}

double ms3(uint64_t ns) {
  return std::round(ns / 1e3) / 1e3;
}

} // namespace

/// `stores`: creates M stores one after another, timing each create_store,
/// then measures the node's idle CPU and RSS while it holds them.
int run_stores(flags& f) {
  auto eps = endpoints_of(f);
  auto sec = security_of(f);
  auto count = f.get_int("count", 100, 1, 100000);
  auto prefix = f.get("prefix", "bench_");
  auto timeout_ms = f.get_int("timeout-ms", 60000, 1, 3600000);
  auto idle_s = f.get_double("idle-seconds", 10, 0, 3600);
  std::optional<pid_t> pid;
  if (f.has("node-pid"))
    pid = static_cast<pid_t>(f.get_int("node-pid", 0, 1, 1 << 30));
  bool cleanup = f.has("cleanup");
  bool quiet = f.has("quiet");
  bool json = f.has("json");
  f.check_all_used();

  const auto& ep = eps.front();
  gateway::json_client c;
  secure(c, sec);
  if (auto err = c.connect(ep.host, ep.port)) {
    std::fprintf(stderr, "cxesdb-bench: cannot connect to %s:%u: %s\n",
                 ep.host.c_str(), ep.port, err->c_str());
    return 1;
  }
  report r;
  r.command = "stores";
  r.config = {{"count", count},
              {"prefix", prefix},
              {"idle_seconds", idle_s},
              {"cleanup", cleanup}};
  auto start = now_ns();
  auto cpu_start = self_cpu();
  auto next_progress = start + 1000000000;
  int transport = 0;
  for (int64_t i = 0; i < count; ++i) {
    auto t0 = now_ns();
    auto resp = c.call("create_store", {{"store", prefix + std::to_string(i)}},
                       static_cast<int>(timeout_ms));
    auto t1 = now_ns();
    if (resp && resp->contains("result")) {
      ++r.load.stats.requests_ok;
      r.load.stats.latency.record(static_cast<uint64_t>(t1 - t0));
    } else {
      r.load.stats.errors[reason_of(resp)] += 1;
      if (!resp && !c.connected()) {
        r.load.stats.errors[reason::transport] += 1;
        ++transport;
        break;
      }
    }
    if (!quiet && t1 >= next_progress) {
      std::fprintf(stderr, "[%3.0fs] %lld stores created  p99 %.1f ms  "
                           "errors %llu\n",
                   (t1 - start) / 1e9, static_cast<long long>(i + 1),
                   ns_to_ms(r.load.stats.latency.quantile_ns(0.99)),
                   static_cast<unsigned long long>(
                     r.load.stats.error_total()));
      next_progress += 1000000000;
    }
  }
  r.load.measured_s = (now_ns() - start) / 1e9;
  auto cpu_end = self_cpu();
  r.load.self_cpu = {cpu_end.user_s - cpu_start.user_s,
                     cpu_end.sys_s - cpu_start.sys_s};
  auto& h = r.load.stats.latency;
  r.extra["create_p50_ms"] = ms3(h.quantile_ns(0.5));
  r.extra["create_p99_ms"] = ms3(h.quantile_ns(0.99));
  r.extra["create_max_ms"] = ms3(h.max_ns());
  r.extra["stores_created"] = r.load.stats.requests_ok;
  if (pid && transport == 0) {
    if (!quiet)
      std::fprintf(stderr, "cxesdb-bench: measuring the node idle for %.0f s\n",
                   idle_s);
    auto c0 = proc_cpu(*pid);
    auto t0 = now_ns();
    std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<int64_t>(idle_s * 1000)));
    auto c1 = proc_cpu(*pid);
    auto secs = (now_ns() - t0) / 1e9;
    auto rss = proc_rss_kib(*pid);
    if (c0 && c1 && secs > 0)
      r.extra["node_idle_cpu_percent"]
        = std::round(1000.0 * (c1->total_s() - c0->total_s()) / secs) / 10.0;
    if (rss)
      r.extra["node_rss_mb"] = std::round(*rss / 102.4) / 10.0;
  }
  if (cleanup) {
    uint64_t removed = 0;
    for (int64_t i = 0; i < count; ++i) {
      auto resp = c.call("remove_store",
                         {{"store", prefix + std::to_string(i)}},
                         static_cast<int>(timeout_ms));
      if (resp && resp->contains("result"))
        ++removed;
    }
    r.extra["stores_removed"] = removed;
  }
  return finish(r, json);
}

} // namespace cxesdb::tools
