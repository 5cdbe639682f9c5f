#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace cxesdb::tools {

/// One node flag: its name (without dashes), default and help text. The
/// node's table of them is in tools/node/main.cpp; everything here works on
/// any table, so a flag added there gets its environment variable and
/// config-file key for free.
struct node_flag {
  const char* name;
  const char* default_value;
  const char* help;
};

/// Where an option's value came from, weakest first.
enum class option_source { default_value, config_file, environment, flag };

/// "default", "config", "env" or "flag".
const char* to_string(option_source source);

/// `data-dir` -> `CXESDB_DATA_DIR`: the environment variable of a flag.
std::string env_var_name(const std::string& flag_name);

/// The config file's one key that is not a flag: `store_templates`, an
/// object of create_store configs by template name (protocol section 10).
/// Resolution keeps its JSON text under this key of `node_options::values`
/// (absent when the file has none); the node checks it.
constexpr const char* store_templates_key = "store_templates";

/// The node's options after resolution: every flag of the table has a value.
struct node_options {
  std::map<std::string, std::string> values;
  std::map<std::string, option_source> sources;
  bool help = false;
  bool version = false;
};

/// Reads an environment variable (nullptr when unset); std::getenv in the
/// node, a map in tests.
using env_lookup = std::function<const char*(const std::string&)>;

/// Resolves the options from, strongest first, the command line (`args`,
/// without the program name; `--flag value` or `--flag=value`), the
/// environment (`CXESDB_<FLAG>`), the JSON config file named by `config`
/// (itself a flag or `CXESDB_CONFIG`), and the table's defaults. `--help` and
/// `--version` set `help` and `version` and stop the parse. On bad input
/// (unknown flag, missing value, unreadable or malformed config file,
/// unknown config key) returns nothing and says why in `error`.
std::optional<node_options> resolve_node_options(
  const node_flag* table, size_t table_size,
  const std::vector<std::string>& args, const env_lookup& env,
  std::string& error);

/// Writes the usage text of `table` (with each flag's environment variable).
void write_node_usage(std::ostream& out, const node_flag* table,
                      size_t table_size);

} // namespace cxesdb::tools
