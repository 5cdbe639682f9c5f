#pragma once

#include <string>

#include "gateway/client/json_client.hpp"
#include "tools/bench/event_ids.hpp"
#include "tools/bench/flags.hpp"
#include "tools/bench/load_loop.hpp"
#include "tools/bench/report.hpp"

namespace cxesdb::tools {

/// Exit status of a subscribe run against a node without subscriptions.
constexpr int exit_unsupported = 3;

/// Each subcommand reads its flags, runs, prints its report and returns the
/// process's exit status (0 ok, 1 transport error or no start, 3
/// unsupported). Flag mistakes throw usage_error.
int run_append(flags& f);
int run_read(flags& f);
int run_health(flags& f);
int run_subscribe(flags& f);
int run_stores(flags& f);

/// The load loop's flags common to the load subcommands: --clients,
/// --pipeline, --duration, --warmup, --timeout-ms, --node-pid, --quiet and
/// the node addresses.
load_options load_options_of(flags& f);

/// Applies `s` to a client before it connects.
void secure(gateway::json_client& c, const security_options& s);

/// A per-run random tag from the clock and the pid (stream names, event ids).
uint64_t fresh_run_tag();

/// Prints `r` (JSON with `--json`, else a table) and returns its exit status.
int finish(const report& r, bool json);

} // namespace cxesdb::tools
