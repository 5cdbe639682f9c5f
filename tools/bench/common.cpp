#include <chrono>
#include <cstdio>
#include <unistd.h>

#include "tools/bench/commands.hpp"

namespace cxesdb::tools {

load_options load_options_of(flags& f) {
  load_options o;
  o.endpoints = endpoints_of(f);
  o.clients = static_cast<size_t>(
    f.get_int("clients", load_options::clients_default, 1,
              load_options::clients_max));
  o.pipeline = static_cast<size_t>(
    f.get_int("pipeline", 1, 1, load_options::pipeline_max));
  o.duration_s = f.get_double("duration", 10, 0.1, 86400);
  o.warmup_s = f.get_double("warmup", 1, 0, 3600);
  o.timeout_ms = f.get_int("timeout-ms", 30000, 1, 3600000);
  o.connect_timeout_ms = f.get_int("connect-timeout-ms", 5000, 1, 600000);
  o.progress = !f.has("quiet");
  o.security = security_of(f);
  if (f.has("node-pid"))
    o.node_pid = static_cast<pid_t>(f.get_int("node-pid", 0, 1, 1 << 30));
  return o;
}

void secure(gateway::json_client& c, const security_options& s) {
  c.set_tls(s.tls);
  c.set_token(s.token);
}

uint64_t fresh_run_tag() {
  auto t = static_cast<uint64_t>(
    std::chrono::system_clock::now().time_since_epoch().count());
  prng mix(t ^ (static_cast<uint64_t>(getpid()) << 40));
  return mix.next();
}

int finish(const report& r, bool json) {
  if (json)
    std::printf("%s\n", to_json(r).dump().c_str());
  else
    print_human(r, stdout);
  std::fflush(stdout);
  return exit_status(r);
}

} // namespace cxesdb::tools
