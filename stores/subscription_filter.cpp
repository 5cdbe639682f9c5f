#include "stores/subscription_filter.hpp"

#include "stores/time_format.hpp"

namespace cxesdb::stores {

using nlohmann::json;

bool json_subset(const json& pattern, const json& value) {
  if (!pattern.is_object())
    return pattern == value;
  if (!value.is_object())
    return false;
  for (auto& kv : pattern.items()) {
    auto i = value.find(kv.key());
    if (i == value.end() || !json_subset(kv.value(), *i))
      return false;
  }
  return true;
}

bool subscription_filter::parse(const std::string& type, const json& selector,
                                subscription_filter& out, std::string& error) {
  out.type_ = type;
  if (type == "by_stream") {
    out.kind_ = by_stream;
    if (!selector.is_string() || selector.get_ref<const std::string&>().empty()
        || selector.get_ref<const std::string&>().size()
             > limits::stream_id_bytes_max) {
      error = "selector of by_stream must be \"$all\" or a stream id";
      return false;
    }
    auto s = selector.get<std::string>();
    out.stream_ = s == "$all" ? std::string{} : s;
  } else if (type == "by_event_type") {
    out.kind_ = by_event_type;
    if (!selector.is_string() || selector.get_ref<const std::string&>().empty()
        || selector.get_ref<const std::string&>().size()
             > limits::event_type_bytes_max) {
      error = "selector of by_event_type must be an event type";
      return false;
    }
    out.event_type_ = selector.get<std::string>();
  } else if (type == "by_event_pattern" || type == "by_event_payload") {
    out.kind_ = type == "by_event_pattern" ? by_event_pattern
                                           : by_event_payload;
    if (!selector.is_object()) {
      error = "selector of " + type + " must be a JSON object";
      return false;
    }
    out.pattern_ = selector;
  } else {
    error = "type must be by_stream, by_event_type, by_event_pattern or "
            "by_event_payload";
    return false;
  }
  out.selector_text_ = selector.dump();
  return true;
}

namespace {

/// The record a by_event_pattern selector is matched against: the event as
/// the node returns it, built only for the keys the pattern names.
json event_record(const recorded_event& e, const json& pattern) {
  json rec = json::object();
  for (auto& kv : pattern.items()) {
    auto& k = kv.key();
    if (k == "stream_id")
      rec[k] = e.stream_id;
    else if (k == "event_number")
      rec[k] = e.event_number;
    else if (k == "position")
      rec[k] = e.position;
    else if (k == "event_id")
      rec[k] = e.event_id;
    else if (k == "event_type")
      rec[k] = e.event_type;
    else if (k == "data")
      rec[k] = json::parse(e.data, nullptr, false);
    else if (k == "metadata")
      rec[k] = json::parse(e.metadata, nullptr, false);
    else if (k == "content_type")
      rec[k] = e.content_type;
    else if (k == "created")
      rec[k] = format_iso8601_us(e.created_epoch_us);
    else if (k == "created_epoch")
      rec[k] = e.created_epoch_us;
  }
  return rec;
}

} // namespace

bool subscription_filter::matches(const recorded_event& e) const {
  switch (kind_) {
    case by_stream:
      return stream_.empty() || e.stream_id == stream_;
    case by_event_type:
      return e.event_type == event_type_;
    case by_event_pattern:
      return json_subset(pattern_, event_record(e, pattern_));
    case by_event_payload: {
      if (e.content_type != "application/json")
        return false;
      auto data = json::parse(e.data, nullptr, false);
      return !data.is_discarded() && json_subset(pattern_, data);
    }
  }
  return false;
}

} // namespace cxesdb::stores
