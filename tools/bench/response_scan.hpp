#pragma once

#include <cstdint>
#include <string_view>

namespace cxesdb::tools {

/// What the load loop needs from one JSON-RPC message, found by a scan of its
/// top-level keys without building a DOM: the load generator must cost far
/// less per message than the node does.
struct response_view {
  /// True when the message has a numeric `id`.
  bool has_id = false;
  int64_t id = 0;

  /// True when it has `error`; `reason` is its `data.reason` (empty if none).
  bool is_error = false;
  std::string_view reason;

  /// `result.version` (append_events), when asked for and present.
  bool has_version = false;
  int64_t version = 0;

  /// `error.data.current_version` (wrong_expected_version), when present.
  bool has_current_version = false;
  int64_t current_version = 0;

  /// True when it has `method`: a notification, not a response.
  bool is_notification = false;

  /// True when the text is not a JSON object the scan understands.
  bool malformed = false;
};

/// Scans one message (without its newline). With `want_version` false the
/// scan stops at `result`, whose content is never needed then.
response_view scan_response(std::string_view text, bool want_version);

} // namespace cxesdb::tools
