#pragma once

#include <optional>
#include <sys/types.h>

namespace cxesdb::tools {

/// CPU seconds spent by a process, user and system.
struct cpu_times {
  double user_s = 0;
  double sys_s = 0;

  double total_s() const noexcept {
    return user_s + sys_s;
  }
};

/// CPU time of this process so far, every thread (getrusage).
cpu_times self_cpu();

/// CPU time of process `pid` from /proc/PID/stat; nothing if unreadable.
std::optional<cpu_times> proc_cpu(pid_t pid);

/// Resident set size of `pid` in KiB (VmRSS of /proc/PID/status).
std::optional<long> proc_rss_kib(pid_t pid);

} // namespace cxesdb::tools
