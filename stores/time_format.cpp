#include "stores/time_format.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace cxesdb::stores {

int64_t now_epoch_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string format_iso8601_us(int64_t epoch_us) {
  auto secs = epoch_us / 1000000;
  auto us = epoch_us % 1000000;
  if (us < 0) {
    us += 1000000;
    secs -= 1;
  }
  auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  return buf;
}

} // namespace cxesdb::stores
