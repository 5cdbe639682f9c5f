#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cxesdb::gateway::http {

/// What the kernel says about this process, for the `process_*` metrics.
struct process_figures {
  /// Resident set size.
  uint64_t resident_memory_bytes = 0;
  /// User and system CPU time.
  double cpu_seconds = 0;
  /// Open file descriptors.
  uint64_t open_fds = 0;
};

/// Reads the figures of this process from /proc/self (stat, statm, fd).
/// Nothing when /proc is not there. Blocks briefly on procfs: call it from
/// the HTTP server's threads, never from a CAF scheduler thread.
std::optional<process_figures> read_process_figures();

/// The user and system CPU seconds in the text of /proc/PID/stat, or
/// nothing when it is malformed (exposed for tests).
std::optional<double> parse_stat_cpu_seconds(const std::string& stat,
                                             long ticks_per_second);

} // namespace cxesdb::gateway::http
