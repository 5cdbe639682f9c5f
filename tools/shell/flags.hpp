#pragma once

#include <string>
#include <vector>

#include "tools/shell/session.hpp"

namespace cxesdb::shell {

/// The command line of `cxesdb-shell`, split into flags and the command.
struct shell_flags {
  session_options options;
  /// The command and its arguments; empty for an interactive session.
  std::vector<std::string> command;
  bool help = false;
  /// `--version`: print the version line and exit.
  bool version = false;
};

/// Longest `--timeout-ms` the shell accepts (one hour).
constexpr int timeout_ms_max = 3600 * 1000;

/// Parses the flags before the first word that is not a flag (the command).
/// Throws usage_error.
shell_flags parse_flags(const std::vector<std::string>& argv);

} // namespace cxesdb::shell
