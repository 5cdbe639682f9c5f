#include <cstdio>

#include "tools/bench/append_workload.hpp"
#include "tools/bench/commands.hpp"
#include "tools/bench/read_workload.hpp"

namespace cxesdb::tools {

/// `append`: C clients appending batches to random streams as fast as the
/// node answers (or at --rate events/s).
int run_append(flags& f) {
  auto lo = load_options_of(f);
  append_options ao;
  ao.streams = static_cast<uint64_t>(
    f.get_int("streams", 1000, 1, append_options::streams_max));
  ao.event_bytes = static_cast<size_t>(
    f.get_int("event-bytes", 256, append_options::event_bytes_min,
              append_options::event_bytes_max));
  ao.batch = static_cast<size_t>(
    f.get_int("batch", 1, 1, append_options::batch_max));
  auto expected = f.get("expected", "any");
  if (expected != "any" && expected != "exact")
    throw usage_error("--expected must be any or exact");
  ao.exact = expected == "exact";
  ao.store = f.get("store", "");
  ao.seed = static_cast<uint64_t>(f.get_int("seed", 1, 0, INT64_MAX));
  ao.run_tag = fresh_run_tag();
  char prefix[32];
  std::snprintf(prefix, sizeof(prefix), "bench-%06llx-",
                static_cast<unsigned long long>(ao.run_tag & 0xffffff));
  ao.stream_prefix = f.get("stream-prefix", prefix);
  lo.rate_events_per_s = f.get_double("rate", 0, 0, 1e9);
  bool json = f.has("json");
  f.check_all_used();
  if (ao.exact && ao.streams < lo.clients)
    throw usage_error("--expected exact needs --streams >= --clients: each "
                      "client owns its streams");
  append_workload w(ao, lo.clients);
  report r;
  r.command = "append";
  r.config = {{"clients", lo.clients},
              {"pipeline", lo.pipeline},
              {"duration_s", lo.duration_s},
              {"warmup_s", lo.warmup_s},
              {"streams", ao.streams},
              {"event_bytes", ao.event_bytes},
              {"batch", ao.batch},
              {"expected", expected},
              {"store", ao.store.empty() ? "(default)" : ao.store},
              {"rate", lo.rate_events_per_s},
              {"seed", ao.seed},
              {"nodes", lo.endpoints.size()}};
  r.load = run_load(lo, w);
  r.extra["request_bytes"]
    = 150 + ao.stream_prefix.size() + ao.batch * w.event_wire_bytes();
  return finish(r, json);
}

/// `health`: the generator's ceiling, with the cheapest request there is.
int run_health(flags& f) {
  auto lo = load_options_of(f);
  bool json = f.has("json");
  f.check_all_used();
  health_workload w;
  report r;
  r.command = "health";
  r.config = {{"clients", lo.clients},
              {"pipeline", lo.pipeline},
              {"duration_s", lo.duration_s},
              {"warmup_s", lo.warmup_s},
              {"nodes", lo.endpoints.size()}};
  r.load = run_load(lo, w);
  return finish(r, json);
}

} // namespace cxesdb::tools
