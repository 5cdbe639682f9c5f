#include "tools/bench/response_scan.hpp"

#include <cstdlib>

namespace cxesdb::tools {

namespace {

/// Nesting deeper than this is treated as malformed (the node never nests
/// that deep in what the benchmark reads).
constexpr int depth_max = 256;

size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size()
         && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    ++i;
  return i;
}

/// Skips a string starting at its opening quote; returns the index after the
/// closing quote, or npos.
size_t skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return std::string_view::npos;
}

/// Skips one JSON value; returns the index after it, or npos.
size_t skip_value(std::string_view s, size_t i) {
  i = skip_ws(s, i);
  if (i >= s.size())
    return std::string_view::npos;
  char c = s[i];
  if (c == '"')
    return skip_string(s, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      char d = s[i];
      if (d == '"') {
        i = skip_string(s, i);
        if (i == std::string_view::npos)
          return i;
        --i;
      } else if (d == '{' || d == '[') {
        if (++depth > depth_max)
          return std::string_view::npos;
      } else if (d == '}' || d == ']') {
        if (--depth == 0)
          return i + 1;
      }
    }
    return std::string_view::npos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']')
    ++i;
  return i;
}

bool parse_int(std::string_view s, size_t i, int64_t& out) {
  i = skip_ws(s, i);
  if (i >= s.size())
    return false;
  bool neg = s[i] == '-';
  if (neg)
    ++i;
  if (i >= s.size() || s[i] < '0' || s[i] > '9')
    return false;
  int64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    v = v * 10 + (s[i++] - '0');
  out = neg ? -v : v;
  return true;
}

/// Finds `"key":` inside `span` and parses the integer after it.
bool find_int(std::string_view span, std::string_view key, int64_t& out) {
  auto at = span.find(key);
  if (at == std::string_view::npos)
    return false;
  return parse_int(span, at + key.size(), out);
}

} // namespace

response_view scan_response(std::string_view s, bool want_version) {
  response_view r;
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') {
    r.malformed = true;
    return r;
  }
  ++i;
  for (;;) {
    i = skip_ws(s, i);
    if (i >= s.size()) {
      r.malformed = true;
      return r;
    }
    if (s[i] == '}')
      return r;
    if (s[i] == ',') {
      ++i;
      continue;
    }
    if (s[i] != '"') {
      r.malformed = true;
      return r;
    }
    auto key_end = skip_string(s, i);
    if (key_end == std::string_view::npos) {
      r.malformed = true;
      return r;
    }
    auto key = s.substr(i + 1, key_end - i - 2);
    i = skip_ws(s, key_end);
    if (i >= s.size() || s[i] != ':') {
      r.malformed = true;
      return r;
    }
    ++i;
    if (key == "result" && !want_version && r.has_id)
      return r; // Nothing in a result is needed; skip the rest.
    auto value_end = skip_value(s, i);
    if (value_end == std::string_view::npos) {
      r.malformed = true;
      return r;
    }
    auto value = s.substr(i, value_end - i);
    if (key == "id") {
      r.has_id = parse_int(value, 0, r.id);
    } else if (key == "error") {
      r.is_error = true;
      constexpr std::string_view reason_key = "\"reason\":\"";
      if (auto at = value.find(reason_key); at != std::string_view::npos) {
        auto from = at + reason_key.size();
        auto to = value.find('"', from);
        if (to != std::string_view::npos)
          r.reason = value.substr(from, to - from);
      }
      r.has_current_version
        = find_int(value, "\"current_version\":", r.current_version);
    } else if (key == "result") {
      if (want_version)
        r.has_version = find_int(value, "\"version\":", r.version);
    } else if (key == "method") {
      r.is_notification = true;
    }
    i = value_end;
  }
}

} // namespace cxesdb::tools
