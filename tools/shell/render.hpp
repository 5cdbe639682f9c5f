#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxesdb::shell {

/// A JSON value as a table cell: strings without quotes, null as empty,
/// arrays of strings joined with ',', anything else as compact JSON.
std::string cell_text(const nlohmann::json& value);

/// Pretty JSON (indent 2) of `value`; when it is an object, the keys in
/// `first_keys` come first, in that order, and the others after them in
/// byte order. (nlohmann::json itself sorts all keys, which would put
/// `created` before `stream_id` in an event.)
std::string pretty_json(const nlohmann::json& value,
                        const std::vector<std::string>& first_keys = {});

/// The key order for printing an event record.
const std::vector<std::string>& event_key_order();

/// The key order for printing a snapshot.
const std::vector<std::string>& snapshot_key_order();

/// Prints each event of `events` (a JSON array) as pretty JSON, or
/// "(no events)" when there is none.
void print_events(const nlohmann::json& events, std::ostream& out);

/// Prints a result object as aligned `key: value` lines, `first_keys` first;
/// nested objects print their keys with dotted prefixes
/// (`config.timeout_ms`).
void print_object(const nlohmann::json& obj, std::ostream& out,
                  const std::vector<std::string>& first_keys = {});

/// The one-line text of a JSON-RPC error object:
/// `<reason>: <message>` plus its other data fields in parentheses, e.g.
/// `wrong_expected_version: ... (current_version: 3, expected_version: 1)`.
std::string error_text(const nlohmann::json& error);

} // namespace cxesdb::shell
