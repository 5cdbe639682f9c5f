#pragma once

#include <string>

namespace cxesdb::actors {

enum class log_level { info, warning, error };

/// Writes one line to stderr: a UTC timestamp, the level and `text`. One line
/// per notable event (start, listening, store created or removed, failures);
/// never per request. Thread-safe.
void log(log_level level, const std::string& text);

inline void log_info(const std::string& text) {
  log(log_level::info, text);
}

inline void log_warning(const std::string& text) {
  log(log_level::warning, text);
}

inline void log_error(const std::string& text) {
  log(log_level::error, text);
}

/// Silences `log` (for tests that would otherwise print).
void set_log_quiet(bool quiet);

} // namespace cxesdb::actors
