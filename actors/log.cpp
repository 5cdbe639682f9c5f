#include "actors/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace cxesdb::actors {

namespace {

std::atomic<bool> quiet_{false};

} // namespace

void log(log_level level, const std::string& text) {
  if (quiet_)
    return;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  auto t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const char* tag = level == log_level::info      ? "INFO"
                    : level == log_level::warning ? "WARN"
                                                  : "ERROR";
  // One fprintf per line: stdio locks the stream, so lines never interleave.
  std::fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s\n",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, static_cast<int>(ms), tag, text.c_str());
  std::fflush(stderr);
}

void set_log_quiet(bool quiet) {
  quiet_ = quiet;
}

} // namespace cxesdb::actors
