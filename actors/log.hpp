#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cxesdb::actors {

enum class log_level { debug, info, warning, error };

/// How lines look: `text` is `TIMESTAMP LEVEL message`; `json`
/// is one JSON object per line with `ts`, `level`, `msg` and the fields.
enum class log_format { text, json };

/// One named value of a log event (e.g. {"store", "orders"}): a string
/// member of the JSON line. Text lines show the message alone, which says
/// the same in words.
struct log_field {
  std::string key;
  std::string value;
};

/// Writes one line to stderr: a UTC timestamp, the level, `text` and the
/// event's `fields`, when `level` is at least the threshold (set_log_level).
/// One line per notable event (start, listening, store created or removed,
/// failures); never per request. Thread-safe.
void log(log_level level, const std::string& text,
         const std::vector<log_field>& fields = {});

inline void log_debug(const std::string& text,
                      const std::vector<log_field>& fields = {}) {
  log(log_level::debug, text, fields);
}

inline void log_info(const std::string& text,
                     const std::vector<log_field>& fields = {}) {
  log(log_level::info, text, fields);
}

inline void log_warning(const std::string& text,
                        const std::vector<log_field>& fields = {}) {
  log(log_level::warning, text, fields);
}

inline void log_error(const std::string& text,
                      const std::vector<log_field>& fields = {}) {
  log(log_level::error, text, fields);
}

/// True when a line of `level` would be written (to skip building costly
/// debug text).
bool log_enabled(log_level level);

/// Lines below `level` are dropped (default: info).
void set_log_level(log_level level);

/// Sets the line format (default: text).
void set_log_format(log_format format);

/// Parses `debug`, `info`, `warn` (or `warning`) and `error`.
std::optional<log_level> parse_log_level(const std::string& text);

/// Parses `text` and `json`.
std::optional<log_format> parse_log_format(const std::string& text);

/// One log line as `log` writes it, without the trailing newline (exposed
/// for tests). `ts` is the timestamp text.
std::string format_log_line(log_format format, const std::string& ts,
                            log_level level, const std::string& text,
                            const std::vector<log_field>& fields);

/// Silences `log` (for tests that would otherwise print).
void set_log_quiet(bool quiet);

} // namespace cxesdb::actors
