#include "tools/bench/proc_stat.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace cxesdb::tools {

cpu_times self_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  cpu_times t;
  t.user_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  t.sys_s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  return t;
}

std::optional<cpu_times> proc_cpu(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text))
    return std::nullopt;
  // The command name (field 2) may contain spaces: fields start after ')'.
  auto paren = text.rfind(')');
  if (paren == std::string::npos)
    return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  // After ')' come field 3 (state) .. ; utime and stime are fields 14, 15.
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14)
      utime = std::stoull(field);
    else if (n == 15)
      stime = std::stoull(field);
  }
  double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return cpu_times{utime / hz, stime / hz};
}

std::optional<long> proc_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

} // namespace cxesdb::tools
