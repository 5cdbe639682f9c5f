#pragma once

namespace cxesdb::shell {

/// The process exit codes of `cxesdb-shell`. Scripts switch on them, so they
/// are part of the shell's interface (docs/shell.md).
enum class exit_code : int {
  /// The command succeeded.
  ok = 0,
  /// The node answered with an error, or gave no answer in time.
  failed = 1,
  /// The shell could not reach the node, or lost the connection.
  connection = 2,
  /// The command line was malformed (as sysexits.h EX_USAGE).
  usage = 64,
};

inline int to_int(exit_code code) noexcept {
  return static_cast<int>(code);
}

} // namespace cxesdb::shell
