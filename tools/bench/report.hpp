#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/bench/load_loop.hpp"

namespace cxesdb::tools {

/// The final report of one load run: what ran, with which parameters, and
/// what the load loop measured, plus fields of the subcommand (`extra`).
struct report {
  std::string command;
  nlohmann::json config = nlohmann::json::object();
  load_result load;
  nlohmann::json extra = nlohmann::json::object();
};

/// The report as one JSON object: `events_per_s`, `requests_per_s`,
/// `p50_ms` .. `max_ms`, `errors` (total), `errors_by_reason`,
/// `transport_errors`, the generator's CPU (`bench_cpu_percent` of one
/// core), the node's when sampled, the config, and `extra`'s fields.
nlohmann::json to_json(const report& r);

/// Prints the report as a table for people.
void print_human(const report& r, std::FILE* out);

/// Exit status of a run: 1 when a transport error happened, else 0.
int exit_status(const report& r);

} // namespace cxesdb::tools
