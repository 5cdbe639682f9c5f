#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "stores/types.hpp"

namespace cxesdb::stores {

/// What a subscription selects, parsed once: the matching rules of the
/// protocol's four subscription types. Pure; no CAF, no I/O.
class subscription_filter {
public:
  enum kind_t { by_stream, by_event_type, by_event_pattern, by_event_payload };

  /// Parses a type name and its selector; false with `error` set when they
  /// are not valid (`error` names what is wrong).
  static bool parse(const std::string& type, const nlohmann::json& selector,
                    subscription_filter& out, std::string& error);

  /// Whether `e` is selected.
  bool matches(const recorded_event& e) const;

  kind_t kind() const noexcept {
    return kind_;
  }

  /// The type's protocol name.
  const std::string& type() const noexcept {
    return type_;
  }

  /// The selector as canonical JSON text (how it is stored and compared).
  const std::string& selector_text() const noexcept {
    return selector_text_;
  }

  /// For by_stream: the stream, or empty for `$all`.
  const std::string& stream() const noexcept {
    return stream_;
  }

private:
  kind_t kind_ = by_stream;
  std::string type_;
  std::string selector_text_;
  std::string stream_;     ///< by_stream
  std::string event_type_; ///< by_event_type
  nlohmann::json pattern_; ///< by_event_pattern, by_event_payload
};

/// Whether `value` has every key of `pattern` with an equal value; nested
/// objects match the same way (a subset at every level), any other value
/// (numbers, strings, arrays, null) must be equal.
bool json_subset(const nlohmann::json& pattern, const nlohmann::json& value);

} // namespace cxesdb::stores
