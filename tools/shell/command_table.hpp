#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/shell/command_args.hpp"

namespace cxesdb::shell {

/// What a command needs to know about the session to build its request.
struct command_context {
  /// The current store (`--store` or `use`); nothing = the node's default.
  std::optional<std::string> store;
  /// True when commands come from the interactive loop: stdin is then the
  /// command stream and cannot carry data (`append --file -`).
  bool interactive = false;
  /// Where `--file -` reads from.
  std::istream* in = nullptr;
};

/// One protocol request, as a command builds it.
struct request {
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

/// Builds a command's request from its parsed words. Throws usage_error.
using build_fn = request (*)(const parsed_args& args,
                             const command_context& ctx);

/// Prints a successful result for people (not used with `--json`).
using render_fn = void (*)(const nlohmann::json& result, const request& req,
                           std::ostream& out);

/// One shell command: its syntax, help, and how it maps to a protocol
/// method. Local commands (help, use, quit) have no build function; the
/// session runs them itself.
struct command_spec {
  std::string name;
  /// The usage line, e.g. "read STREAM [--start N] [--count N] [--backward]".
  std::string syntax;
  /// One line of help for the command list.
  std::string summary;
  /// The command's own options (the common ones are added by the session).
  std::vector<option_spec> options;
  size_t positional_min = 0;
  size_t positional_max = 0;
  /// Takes the `store` parameter: accepts `--store S` and gets the current
  /// store.
  bool store_scoped = false;
  /// Its first positional names a store (for completion).
  bool takes_store_id = false;
  build_fn build = nullptr;
  render_fn render = nullptr;
};

/// Every command, in the order `help` lists them.
const std::vector<command_spec>& command_table();

/// The command called `name`, or null.
const command_spec* find_command(const std::string& name);

/// The options a command accepts: its own plus `--json`, and `--store` when
/// it is store scoped.
std::vector<option_spec> all_options(const command_spec& cmd);

/// Adds the store commands (stores, create-store, ...) to `table`.
void add_store_commands(std::vector<command_spec>& table);

/// Adds the stream commands (append, read, version, streams, read-all).
void add_stream_commands(std::vector<command_spec>& table);

/// Adds the stream lifecycle commands (delete-stream, truncate, stream-meta,
/// scavenge) and the backup commands (backup, backups, restore).
void add_lifecycle_commands(std::vector<command_spec>& table);

/// Adds the snapshot commands.
void add_snapshot_commands(std::vector<command_spec>& table);

/// Adds the subscription listing.
void add_subscription_commands(std::vector<command_spec>& table);

/// Adds health, raw and the local commands (use, help, quit, exit).
void add_misc_commands(std::vector<command_spec>& table);

} // namespace cxesdb::shell
