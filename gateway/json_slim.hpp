#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cxesdb::gateway {

/// The text of one appended event's `data` and `metadata` exactly as the
/// client sent it. An empty view: not taken from the text (the request's
/// DOM holds the value).
struct raw_event_text {
  std::string_view data;
  std::string_view metadata;
};

/// Keeps event data out of the request's DOM. For a single `append_events`
/// request `line` (one JSON object, not a batch), finds every
/// `params.events[i].data` and `.metadata` whose value is an object or an
/// array, checks that value with a validating scan (no DOM), and writes to
/// `slim` the line with each such value replaced by `{}` or `[]`; `raw[i]`
/// points into `line` at the values that were replaced. Parsing `slim`
/// instead of `line` then builds a DOM without the event data, and the
/// store keeps the data's text as received instead of re-serializing it.
///
/// Returns false, leaving `slim` and `raw` empty, when `line` is anything
/// else or anything about it is unusual (an escaped key, an invalid value):
/// the caller then parses `line` as it is, and gives the usual errors.
/// `line` must outlive the views.
bool slim_append(std::string_view line, std::string& slim,
                 std::vector<raw_event_text>& raw);

} // namespace cxesdb::gateway
