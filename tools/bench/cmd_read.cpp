#include <algorithm>
#include <cstdio>
#include <string>

#include "gateway/client/json_client.hpp"
#include "tools/bench/commands.hpp"
#include "tools/bench/read_workload.hpp"

namespace cxesdb::tools {

namespace {

/// Events per append while seeding.
constexpr uint64_t seed_batch_events = 1000;

/// Time to wait for one seeding request.
constexpr int seed_timeout_ms = 60000;

/// Brings every read stream up to `stream_events` events (fewer are topped
/// up; existing events are reused). Returns an error text on failure.
std::optional<std::string> seed_streams(const endpoint& ep,
                                        const read_options& o,
                                        const security_options& sec) {
  gateway::json_client c;
  secure(c, sec);
  if (auto err = c.connect(ep.host, ep.port))
    return "cannot connect to " + ep.host + ":" + std::to_string(ep.port)
           + ": " + *err;
  std::string data(256 - 8, 'x');
  uint64_t written = 0;
  for (uint64_t s = 0; s < o.streams; ++s) {
    auto stream = o.stream_prefix + std::to_string(s);
    nlohmann::json params{{"stream", stream}};
    if (!o.store.empty())
      params["store"] = o.store;
    auto v = c.call("get_version", params, seed_timeout_ms);
    if (!v || !v->contains("result"))
      return "get_version failed: " + (v ? v->dump() : std::string{"no answer"});
    int64_t version = (*v)["result"].value("version", int64_t{-1});
    while (static_cast<uint64_t>(version + 1) < o.stream_events) {
      auto n = std::min<uint64_t>(seed_batch_events,
                                  o.stream_events - (version + 1));
      nlohmann::json events = nlohmann::json::array();
      for (uint64_t i = 0; i < n; ++i)
        events.push_back({{"event_type", "BenchSeed"},
                          {"data", {{"p", data}}},
                          {"metadata", {{"source", "cxesdb-bench"}}}});
      auto p = params;
      p["expected_version"] = version;
      p["events"] = std::move(events);
      auto a = c.call("append_events", p, seed_timeout_ms);
      if (!a || !a->contains("result"))
        return "seeding append failed: "
               + (a ? a->dump() : std::string{"no answer"});
      version = (*a)["result"].value("version", version);
      written += n;
    }
  }
  if (written > 0)
    std::fprintf(stderr, "cxesdb-bench: seeded %llu events\n",
                 static_cast<unsigned long long>(written));
  return std::nullopt;
}

} // namespace

/// `read`: random full pages of get_events (--mode stream) or read_all
/// (--mode all) over streams seeded first.
int run_read(flags& f) {
  auto lo = load_options_of(f);
  read_options ro;
  auto mode = f.get("mode", "stream");
  if (mode != "stream" && mode != "all")
    throw usage_error("--mode must be stream or all");
  ro.all = mode == "all";
  ro.streams = static_cast<uint64_t>(f.get_int("streams", 10, 1, 100000));
  ro.stream_events
    = static_cast<uint64_t>(f.get_int("stream-events", 1000, 1, 10000000));
  ro.count = static_cast<uint64_t>(
    f.get_int("count", 100, 1, read_options::count_max));
  ro.store = f.get("store", "");
  ro.stream_prefix = f.get("stream-prefix", "benchread-");
  ro.seed = static_cast<uint64_t>(f.get_int("seed", 1, 0, INT64_MAX));
  bool json = f.has("json");
  f.check_all_used();
  if (auto err = seed_streams(lo.endpoints.front(), ro, lo.security)) {
    std::fprintf(stderr, "cxesdb-bench: %s\n", err->c_str());
    return 1;
  }
  read_workload w(ro);
  report r;
  r.command = "read";
  r.config = {{"mode", mode},
              {"clients", lo.clients},
              {"pipeline", lo.pipeline},
              {"duration_s", lo.duration_s},
              {"warmup_s", lo.warmup_s},
              {"streams", ro.streams},
              {"stream_events", ro.stream_events},
              {"count", ro.count},
              {"store", ro.store.empty() ? "(default)" : ro.store},
              {"seed", ro.seed},
              {"nodes", lo.endpoints.size()}};
  r.load = run_load(lo, w);
  return finish(r, json);
}

} // namespace cxesdb::tools
