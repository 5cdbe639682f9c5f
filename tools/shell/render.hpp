#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

namespace cxesdb::shell {

/// A JSON value as a table cell: strings without quotes, null as empty,
/// arrays of strings joined with ',', anything else as compact JSON.
std::string cell_text(const nlohmann::json& value);

/// Prints each event of `events` (a JSON array) as pretty JSON, or
/// "(no events)" when there is none.
void print_events(const nlohmann::json& events, std::ostream& out);

/// Prints a result object as aligned `key: value` lines; nested objects
/// print their keys with dotted prefixes (`config.timeout_ms`).
void print_object(const nlohmann::json& obj, std::ostream& out);

/// The one-line text of a JSON-RPC error object:
/// `<reason>: <message>` plus its other data fields in parentheses, e.g.
/// `wrong_expected_version: ... (current_version: 3, expected_version: 1)`.
std::string error_text(const nlohmann::json& error);

} // namespace cxesdb::shell
