#include "actors/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace cxesdb::actors {

namespace {

std::atomic<bool> quiet_{false};
std::atomic<int> threshold_{static_cast<int>(log_level::info)};
std::atomic<int> format_{static_cast<int>(log_format::text)};

const char* text_tag(log_level level) {
  switch (level) {
    case log_level::debug:
      return "DEBUG";
    case log_level::info:
      return "INFO";
    case log_level::warning:
      return "WARN";
    case log_level::error:
      break;
  }
  return "ERROR";
}

const char* json_tag(log_level level) {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warn";
    case log_level::error:
      break;
  }
  return "error";
}

/// Appends `s` as a JSON string (RFC 8259 escapes; bytes >= 0x80 pass as
/// they are, so UTF-8 stays UTF-8).
void append_json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

} // namespace

std::string format_log_line(log_format format, const std::string& ts,
                            log_level level, const std::string& text,
                            const std::vector<log_field>& fields) {
  std::string line;
  line.reserve(64 + text.size());
  if (format == log_format::json) {
    line += "{\"ts\":";
    append_json_string(line, ts);
    line += ",\"level\":";
    append_json_string(line, json_tag(level));
    line += ",\"msg\":";
    append_json_string(line, text);
    for (auto& f : fields) {
      // The three members above are fixed: a field of the same name is
      // renamed rather than producing a duplicate key.
      auto key = f.key;
      if (key == "ts" || key == "level" || key == "msg")
        key = "field_" + key;
      line += ',';
      append_json_string(line, key);
      line += ':';
      append_json_string(line, f.value);
    }
    line += '}';
    return line;
  }
  // Text lines are the message alone, as they always were (scripts grep
  // them): the fields repeat what the message says, for JSON consumers.
  line += ts;
  line += ' ';
  line += text_tag(level);
  line += ' ';
  line += text;
  return line;
}

bool log_enabled(log_level level) {
  return !quiet_ && static_cast<int>(level) >= threshold_.load();
}

void log(log_level level, const std::string& text,
         const std::vector<log_field>& fields) {
  if (!log_enabled(level))
    return;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  auto t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[96];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  auto line = format_log_line(static_cast<log_format>(format_.load()), ts,
                              level, text, fields);
  line += '\n';
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void set_log_level(log_level level) {
  threshold_ = static_cast<int>(level);
}

void set_log_format(log_format format) {
  format_ = static_cast<int>(format);
}

std::optional<log_level> parse_log_level(const std::string& text) {
  if (text == "debug")
    return log_level::debug;
  if (text == "info")
    return log_level::info;
  if (text == "warn" || text == "warning")
    return log_level::warning;
  if (text == "error")
    return log_level::error;
  return std::nullopt;
}

std::optional<log_format> parse_log_format(const std::string& text) {
  if (text == "text")
    return log_format::text;
  if (text == "json")
    return log_format::json;
  return std::nullopt;
}

void set_log_quiet(bool quiet) {
  quiet_ = quiet;
}

} // namespace cxesdb::actors
