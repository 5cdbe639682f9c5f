#include "gateway/json_slim.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

namespace cxesdb::gateway {

namespace {

// A structural scanner over JSON text: it finds where values begin and end
// and trusts nothing else. Whatever it returns is checked again, by
// nlohmann's parser (the slim line) or its validating scan (the values).

using iter = const char*;

iter skip_ws(iter p, iter end) {
  while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    ++p;
  return p;
}

/// `p` at a '"': the position after the closing quote, or nullptr.
iter skip_string(iter p, iter end) {
  for (++p; p != end; ++p) {
    if (*p == '\\') {
      if (++p == end)
        return nullptr;
    } else if (*p == '"') {
      return p + 1;
    }
  }
  return nullptr;
}

/// `p` at the first character of a value: the position after it, or
/// nullptr.
iter skip_value(iter p, iter end) {
  if (p == end)
    return nullptr;
  if (*p == '"')
    return skip_string(p, end);
  if (*p == '{' || *p == '[') {
    size_t depth = 0;
    while (p != end) {
      switch (*p) {
        case '"':
          p = skip_string(p, end);
          if (p == nullptr)
            return nullptr;
          continue;
        case '{':
        case '[':
          ++depth;
          break;
        case '}':
        case ']':
          if (--depth == 0)
            return p + 1;
          break;
        default:
          break;
      }
      ++p;
    }
    return nullptr;
  }
  // A number or a literal: up to the next delimiter.
  auto q = p;
  while (q != end && *q != ',' && *q != '}' && *q != ']' && *q != ' '
         && *q != '\t' && *q != '\n' && *q != '\r')
    ++q;
  return q == p ? nullptr : q;
}

/// Calls `f(key, value_begin, value_end)` for each member of the object
/// that starts at `p`; false when the text is not an object of plain keys
/// (a key with an escape could name a member differently from its text).
template <class F>
bool for_each_member(iter p, iter end, F f) {
  p = skip_ws(p, end);
  if (p == end || *p != '{')
    return false;
  p = skip_ws(p + 1, end);
  if (p != end && *p == '}')
    return true;
  for (;;) {
    if (p == end || *p != '"')
      return false;
    auto key_end = skip_string(p, end);
    if (key_end == nullptr)
      return false;
    std::string_view key{p + 1, static_cast<size_t>(key_end - p - 2)};
    if (key.find('\\') != std::string_view::npos)
      return false;
    p = skip_ws(key_end, end);
    if (p == end || *p != ':')
      return false;
    p = skip_ws(p + 1, end);
    auto value_end = skip_value(p, end);
    if (value_end == nullptr)
      return false;
    f(key, p, value_end);
    p = skip_ws(value_end, end);
    if (p != end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    return p != end && *p == '}';
  }
}

/// Calls `f(value_begin, value_end)` for each element of the array that
/// starts at `p`.
template <class F>
bool for_each_element(iter p, iter end, F f) {
  p = skip_ws(p, end);
  if (p == end || *p != '[')
    return false;
  p = skip_ws(p + 1, end);
  if (p != end && *p == ']')
    return true;
  for (;;) {
    auto value_end = skip_value(p, end);
    if (value_end == nullptr)
      return false;
    if (!f(p, value_end))
      return false;
    p = skip_ws(value_end, end);
    if (p != end && *p == ',') {
      p = skip_ws(p + 1, end);
      continue;
    }
    return p != end && *p == ']';
  }
}

bool structured(iter p) {
  return *p == '{' || *p == '[';
}

} // namespace

bool slim_append(std::string_view line, std::string& slim,
                 std::vector<raw_event_text>& raw) {
  slim.clear();
  raw.clear();
  iter begin = line.data();
  iter end = begin + line.size();
  // The last "method" and "params" win, as in nlohmann's DOM.
  std::string_view method;
  iter params = nullptr;
  iter params_end = nullptr;
  if (!for_each_member(begin, end, [&](std::string_view k, iter v, iter ve) {
        if (k == "method")
          method = std::string_view{v, static_cast<size_t>(ve - v)};
        else if (k == "params")
          params = v, params_end = ve;
      }))
    return false;
  if (method != "\"append_events\"" || params == nullptr)
    return false;
  iter events = nullptr;
  iter events_end = nullptr;
  if (!for_each_member(params, params_end,
                       [&](std::string_view k, iter v, iter ve) {
                         if (k == "events")
                           events = v, events_end = ve;
                       }))
    return false;
  if (events == nullptr)
    return false;
  // The values to replace, in text order.
  std::vector<std::pair<iter, iter>> cut;
  bool ok = for_each_element(events, events_end, [&](iter e, iter ee) {
    raw_event_text t;
    if (*e == '{') {
      // A member's earlier duplicates stay in the slim text: the DOM keeps
      // the last one, which is the one replaced.
      iter d = nullptr, de = nullptr, m = nullptr, me = nullptr;
      if (!for_each_member(e, ee, [&](std::string_view k, iter v, iter ve) {
            if (k == "data")
              d = v, de = ve;
            else if (k == "metadata")
              m = v, me = ve;
          }))
        return false;
      if (d != nullptr && structured(d)) {
        t.data = std::string_view{d, static_cast<size_t>(de - d)};
        cut.emplace_back(d, de);
      }
      if (m != nullptr && structured(m)) {
        t.metadata = std::string_view{m, static_cast<size_t>(me - m)};
        cut.emplace_back(m, me);
      }
    }
    raw.push_back(t);
    return true;
  });
  if (!ok || cut.empty()) {
    raw.clear();
    return false;
  }
  std::sort(cut.begin(), cut.end());
  for (auto& [v, ve] : cut)
    if (!nlohmann::json::accept(v, ve)) {
      raw.clear();
      return false;
    }
  slim.reserve(line.size());
  iter at = begin;
  for (auto& [v, ve] : cut) {
    slim.append(at, v);
    slim += *v == '{' ? "{}" : "[]";
    at = ve;
  }
  slim.append(at, end);
  return true;
}

} // namespace cxesdb::gateway
