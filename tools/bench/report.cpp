#include "tools/bench/report.hpp"

#include <cmath>

namespace cxesdb::tools {

namespace {

double round3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

double per_s(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

} // namespace

nlohmann::json to_json(const report& r) {
  const auto& s = r.load.stats;
  const auto& h = s.latency;
  auto secs = r.load.measured_s;
  nlohmann::json j;
  j["command"] = r.command;
  j["config"] = r.config;
  j["duration_s"] = round3(secs);
  j["requests"] = s.requests_ok;
  j["events"] = s.events_ok;
  j["events_per_s"] = round3(per_s(s.events_ok, secs));
  j["requests_per_s"] = round3(per_s(s.requests_ok, secs));
  j["p50_ms"] = round3(ns_to_ms(h.quantile_ns(0.50)));
  j["p90_ms"] = round3(ns_to_ms(h.quantile_ns(0.90)));
  j["p99_ms"] = round3(ns_to_ms(h.quantile_ns(0.99)));
  j["p999_ms"] = round3(ns_to_ms(h.quantile_ns(0.999)));
  j["max_ms"] = round3(ns_to_ms(h.max_ns()));
  j["mean_ms"] = round3(h.mean_ns() / 1e6);
  j["errors"] = s.error_total();
  j["errors_by_reason"] = nlohmann::json::object();
  for (auto& [reason, n] : s.errors)
    j["errors_by_reason"][reason] = n;
  j["transport_errors"] = s.errors_of(reason::transport);
  j["connections_failed"] = r.load.connections_failed;
  j["bench_cpu_user_s"] = round3(r.load.self_cpu.user_s);
  j["bench_cpu_sys_s"] = round3(r.load.self_cpu.sys_s);
  j["bench_cpu_percent"]
    = round3(secs > 0 ? 100.0 * r.load.self_cpu.total_s() / secs : 0.0);
  if (r.load.node_cpu)
    j["node_cpu_percent"]
      = round3(secs > 0 ? 100.0 * r.load.node_cpu->total_s() / secs : 0.0);
  for (auto& [k, v] : r.extra.items())
    j[k] = v;
  return j;
}

void print_human(const report& r, std::FILE* out) {
  auto j = to_json(r);
  std::fprintf(out, "cxesdb-bench %s  %s\n", r.command.c_str(),
               r.config.dump().c_str());
  std::fprintf(out, "  measured      %.2f s\n", j["duration_s"].get<double>());
  std::fprintf(out, "  events/s      %.0f   (%llu events)\n",
               j["events_per_s"].get<double>(),
               static_cast<unsigned long long>(r.load.stats.events_ok));
  std::fprintf(out, "  requests/s    %.0f   (%llu requests)\n",
               j["requests_per_s"].get<double>(),
               static_cast<unsigned long long>(r.load.stats.requests_ok));
  std::fprintf(out,
               "  latency ms    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
               "max %.3f  mean %.3f\n",
               j["p50_ms"].get<double>(), j["p90_ms"].get<double>(),
               j["p99_ms"].get<double>(), j["p999_ms"].get<double>(),
               j["max_ms"].get<double>(), j["mean_ms"].get<double>());
  std::fprintf(out, "  errors        %llu\n",
               static_cast<unsigned long long>(r.load.stats.error_total()));
  for (auto& [reason, n] : r.load.stats.errors)
    std::fprintf(out, "    %-22s %llu\n", reason.c_str(),
                 static_cast<unsigned long long>(n));
  std::fprintf(out,
               "  bench CPU     %.2f s user + %.2f s sys = %.1f%% of one "
               "core\n",
               r.load.self_cpu.user_s, r.load.self_cpu.sys_s,
               j["bench_cpu_percent"].get<double>());
  if (j.contains("node_cpu_percent"))
    std::fprintf(out, "  node CPU      %.1f%% of one core\n",
                 j["node_cpu_percent"].get<double>());
  for (auto& [k, v] : r.extra.items())
    std::fprintf(out, "  %-13s %s\n", k.c_str(), v.dump().c_str());
}

int exit_status(const report& r) {
  return r.load.stats.errors_of(reason::transport) > 0 ? 1 : 0;
}

} // namespace cxesdb::tools
