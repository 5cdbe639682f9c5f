#include "tools/shell/render.hpp"

#include <utility>
#include <vector>

#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

/// The protocol's reason for an error code, for errors without data.reason.
std::string reason_of_code(const nlohmann::json& code) {
  static const std::pair<int, const char*> reasons[] = {
    {-32700, "parse_error"},       {-32600, "invalid_request"},
    {-32601, "method_not_found"},  {-32602, "invalid_params"},
    {-32603, "internal_error"},    {-32001, "not_found"},
    {-32002, "already_exists"},    {-32003, "wrong_expected_version"},
    {-32004, "unavailable"},       {-32005, "timeout"},
    {-32006, "unauthorized"},      {-32007, "forbidden"},
    {-32008, "too_large"},         {-32009, "overloaded"},
    {-32010, "duplicate_event"},   {-32011, "stream_deleted"},
  };
  if (code.is_number_integer())
    for (auto& [num, reason] : reasons)
      if (code.get<int>() == num)
        return reason;
  return "error " + (code.is_null() ? std::string{"?"} : code.dump());
}

void flatten(const std::string& prefix, const nlohmann::json& obj,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (auto& [key, value] : obj.items()) {
    auto name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object() && !value.empty())
      flatten(name, value, out);
    else // unlike a table cell, say null: "position: null" after no events
      out.emplace_back(name, value.is_null() ? "null" : cell_text(value));
  }
}

} // namespace

std::string cell_text(const nlohmann::json& value) {
  if (value.is_null())
    return {};
  if (value.is_string())
    return value.get<std::string>();
  if (value.is_array()) {
    bool all_strings = true;
    for (auto& x : value)
      all_strings = all_strings && x.is_string();
    if (all_strings) {
      std::string res;
      for (auto& x : value) {
        if (!res.empty())
          res += ',';
        res += x.get<std::string>();
      }
      return res;
    }
  }
  return value.dump();
}

std::string pretty_json(const nlohmann::json& value,
                        const std::vector<std::string>& first_keys) {
  if (!value.is_object() || first_keys.empty())
    return value.dump(2);
  // ordered_json keeps insertion order; nested values keep sorted keys.
  auto ordered = nlohmann::ordered_json::object();
  for (auto& key : first_keys)
    if (auto i = value.find(key); i != value.end())
      ordered[key] = nlohmann::ordered_json::parse(i->dump());
  for (auto& [key, val] : value.items())
    if (!ordered.contains(key))
      ordered[key] = nlohmann::ordered_json::parse(val.dump());
  return ordered.dump(2);
}

const std::vector<std::string>& event_key_order() {
  static const std::vector<std::string> keys{
    "stream_id",     "event_number", "position", "event_type",
    "event_id",      "created",      "created_epoch", "content_type",
    "data",          "metadata"};
  return keys;
}

const std::vector<std::string>& snapshot_key_order() {
  static const std::vector<std::string> keys{
    "source_uuid", "stream_uuid",   "version", "source_type",
    "created",     "created_epoch", "data",    "metadata"};
  return keys;
}

void print_events(const nlohmann::json& events, std::ostream& out) {
  if (!events.is_array() || events.empty()) {
    out << "(no events)\n";
    return;
  }
  for (auto& ev : events)
    out << pretty_json(ev, event_key_order()) << '\n';
}

void print_object(const nlohmann::json& obj, std::ostream& out,
                  const std::vector<std::string>& first_keys) {
  if (!obj.is_object()) {
    out << obj.dump(2) << '\n';
    return;
  }
  std::vector<std::pair<std::string, std::string>> pairs;
  for (auto& key : first_keys)
    if (auto i = obj.find(key); i != obj.end())
      pairs.emplace_back(key, i->is_null() ? "null" : cell_text(*i));
  auto rest = obj;
  for (auto& key : first_keys)
    rest.erase(key);
  flatten({}, rest, pairs);
  print_key_values(out, pairs);
}

std::string error_text(const nlohmann::json& error) {
  if (!error.is_object())
    return "internal_error: malformed error " + error.dump();
  std::string reason;
  std::string extra;
  auto data = error.find("data");
  if (data != error.end() && data->is_object()) {
    for (auto& [key, value] : data->items()) {
      if (key == "reason" && value.is_string()) {
        reason = value.get<std::string>();
        continue;
      }
      if (!extra.empty())
        extra += ", ";
      extra += key + ": " + (value.is_string() ? value.get<std::string>()
                                               : value.dump());
    }
  }
  if (reason.empty())
    reason = reason_of_code(error.value("code", nlohmann::json{}));
  std::string res = reason + ": ";
  auto msg = error.find("message");
  res += msg != error.end() && msg->is_string() ? msg->get<std::string>()
                                                : std::string{"(no message)"};
  if (!extra.empty())
    res += " (" + extra + ")";
  return res;
}

} // namespace cxesdb::shell
