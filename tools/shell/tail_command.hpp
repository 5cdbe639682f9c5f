#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "tools/shell/command_args.hpp"
#include "tools/shell/command_table.hpp"

namespace cxesdb::shell {

/// What `tail` does besides its save_subscription request.
struct tail_settings {
  /// The save_subscription params (type, selector, start_from, name, and
  /// store when one is given).
  nlohmann::json params = nlohmann::json::object();
  /// A named (persistent) subscription: each event is acknowledged.
  bool persistent = false;
  /// Stop after this many events (`--count`); nothing = until Ctrl-C.
  std::optional<int64_t> count;
};

/// Parses `tail`'s words (after parse_args) into its settings. The store is
/// the positional STORE, else `ctx.store`, else none (the node's default).
/// Throws usage_error.
tail_settings parse_tail(const parsed_args& args, const command_context& ctx);

/// Adds `tail` to `table`.
void add_tail_command(std::vector<command_spec>& table);

} // namespace cxesdb::shell
