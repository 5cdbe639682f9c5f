#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/shell/command_args.hpp"
#include "tools/shell/command_table.hpp"

namespace cxesdb::shell {

/// How often `top` refreshes: `--interval-ms`, within these bounds.
constexpr int64_t top_interval_ms_default = 1000;
constexpr int64_t top_interval_ms_min = 100;
constexpr int64_t top_interval_ms_max = 60000;

/// What `top` does.
struct top_settings {
  int64_t interval_ms = top_interval_ms_default;
  /// Stop after this many refreshes (`--count`); nothing = until Ctrl-C.
  std::optional<int64_t> count;
};

/// Parses `top`'s words (after parse_args). Throws usage_error.
top_settings parse_top(const parsed_args& args);

/// What `top` read of one store in one refresh.
struct store_sample {
  std::string store;
  /// get_store_status's result; null when the call failed (`error` says
  /// why).
  nlohmann::json status;
  std::string error;
  /// The largest `lag` get_subscriptions reported; nothing without
  /// subscriptions (or when the call failed).
  std::optional<int64_t> max_lag;
};

/// One refresh: every store, and when it was read.
struct top_sample {
  double at_s = 0; ///< seconds on a steady clock
  std::vector<store_sample> stores;
};

/// One store's row: its figures, and its append rate (positions per second
/// between the two samples' last positions; nothing on the first refresh,
/// for a store new since, or without a last position in either).
struct top_row {
  const store_sample* sample = nullptr;
  std::optional<double> appends_per_s;
};
std::vector<top_row> top_rows(const top_sample* before, const top_sample& now);

/// Prints a refresh as a table for people.
void render_top(const std::vector<top_row>& rows, std::ostream& out);

/// A refresh as one JSON object (`--json`): {"stores":[{"store",
/// "appends_per_s","max_lag", and get_store_status's fields}]}.
nlohmann::json top_json(const std::vector<top_row>& rows);

/// Adds `top` to `table`.
void add_top_command(std::vector<command_spec>& table);

} // namespace cxesdb::shell
