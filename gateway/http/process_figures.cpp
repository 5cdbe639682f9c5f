#include "gateway/http/process_figures.hpp"

#include <dirent.h>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unistd.h>

namespace cxesdb::gateway::http {

std::optional<double> parse_stat_cpu_seconds(const std::string& stat,
                                             long ticks_per_second) {
  // The process name (field 2) is in parentheses and may hold spaces and
  // ')': the fields after it start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos || ticks_per_second <= 0)
    return std::nullopt;
  std::istringstream in{stat.substr(close + 1)};
  std::string field;
  // Fields 3.. follow; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15; ++i) {
    if (!(in >> field))
      return std::nullopt;
    try {
      if (i == 14)
        utime = std::stoull(field);
      else if (i == 15)
        stime = std::stoull(field);
    } catch (...) {
      return std::nullopt;
    }
  }
  return static_cast<double>(utime + stime)
         / static_cast<double>(ticks_per_second);
}

std::optional<process_figures> read_process_figures() {
  process_figures out;
  {
    std::ifstream in{"/proc/self/stat"};
    if (!in)
      return std::nullopt;
    std::string text{std::istreambuf_iterator<char>{in},
                     std::istreambuf_iterator<char>{}};
    auto cpu = parse_stat_cpu_seconds(text, ::sysconf(_SC_CLK_TCK));
    if (!cpu)
      return std::nullopt;
    out.cpu_seconds = *cpu;
  }
  {
    std::ifstream in{"/proc/self/statm"};
    unsigned long long size = 0, resident = 0;
    if (!(in >> size >> resident))
      return std::nullopt;
    out.resident_memory_bytes
      = resident * static_cast<unsigned long long>(::sysconf(_SC_PAGESIZE));
  }
  if (auto dir = ::opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (auto entry = ::readdir(dir))
      if (entry->d_name[0] != '.')
        ++n;
    ::closedir(dir);
    out.open_fds = n > 0 ? n - 1 : 0; // not the descriptor of the listing
  }
  return out;
}

} // namespace cxesdb::gateway::http
