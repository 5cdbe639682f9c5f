#include "gateway/json_rpc.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "actors/assert.hpp"
#include "gateway/uuid.hpp"
#include "stores/backup.hpp"
#include "stores/time_format.hpp"

namespace cxesdb::gateway {

using nlohmann::json;
using stores::errc;

namespace {

const std::unordered_map<std::string, method>& method_table() {
  static const std::unordered_map<std::string, method> table{
    {"create_store", method::create_store},
    {"remove_store", method::remove_store},
    {"list_stores", method::list_stores},
    {"get_store_status", method::get_store_status},
    {"get_store_config", method::get_store_config},
    {"append_events", method::append_events},
    {"get_events", method::get_events},
    {"get_version", method::get_version},
    {"get_streams", method::get_streams},
    {"read_all", method::read_all},
    {"record_snapshot", method::record_snapshot},
    {"read_snapshot", method::read_snapshot},
    {"delete_snapshot", method::delete_snapshot},
    {"list_snapshots", method::list_snapshots},
    {"save_subscription", method::save_subscription},
    {"unsubscribe", method::unsubscribe},
    {"remove_subscription", method::remove_subscription},
    {"get_subscriptions", method::get_subscriptions},
    {"ack_event", method::ack_event},
    {"health", method::health},
    {"cluster_status", method::cluster_status},
    {"leave_cluster", method::leave_cluster},
    {"delete_stream", method::delete_stream},
    {"truncate_stream", method::truncate_stream},
    {"set_stream_metadata", method::set_stream_metadata},
    {"get_stream_metadata", method::get_stream_metadata},
    {"scavenge_store", method::scavenge_store},
    {"backup_store", method::backup_store},
    {"list_backups", method::list_backups},
    {"restore_store", method::restore_store},
  };
  CXESDB_ASSERT(table.size() == method_count);
  return table;
}

/// The params each method accepts besides `store`, which every method
/// accepts (protocol section 3).
const std::vector<std::string>& allowed_params(method m) {
  static const std::unordered_map<int, std::vector<std::string>> table{
    {static_cast<int>(method::create_store), {"config", "template"}},
    {static_cast<int>(method::append_events),
     {"stream", "expected_version", "events"}},
    {static_cast<int>(method::get_events),
     {"stream", "start", "count", "direction"}},
    {static_cast<int>(method::get_version), {"stream"}},
    {static_cast<int>(method::get_streams), {"after", "limit"}},
    {static_cast<int>(method::read_all),
     {"from_position", "count", "direction"}},
    {static_cast<int>(method::record_snapshot),
     {"source_uuid", "stream_uuid", "version", "data", "metadata",
      "source_type"}},
    {static_cast<int>(method::read_snapshot),
     {"source_uuid", "stream_uuid", "version"}},
    {static_cast<int>(method::delete_snapshot),
     {"source_uuid", "stream_uuid", "version"}},
    {static_cast<int>(method::list_snapshots), {"source_uuid", "stream_uuid"}},
    {static_cast<int>(method::save_subscription),
     {"type", "selector", "name", "start_from", "max_in_flight"}},
    {static_cast<int>(method::unsubscribe), {"subscription"}},
    {static_cast<int>(method::remove_subscription),
     {"type", "selector", "name"}},
    {static_cast<int>(method::ack_event), {"subscription", "position"}},
    {static_cast<int>(method::leave_cluster), {"node"}},
    {static_cast<int>(method::delete_stream),
     {"stream", "expected_version", "hard"}},
    {static_cast<int>(method::truncate_stream), {"stream", "before"}},
    {static_cast<int>(method::set_stream_metadata),
     {"stream", "max_count", "max_age_s", "custom"}},
    {static_cast<int>(method::get_stream_metadata), {"stream"}},
    {static_cast<int>(method::backup_store), {"name"}},
    {static_cast<int>(method::restore_store), {"backup"}},
  };
  static const std::vector<std::string> none;
  auto i = table.find(static_cast<int>(m));
  return i == table.end() ? none : i->second;
}

std::string json_string(const std::string& s) {
  return json(s).dump();
}

bool valid_stream_id(const std::string& s) {
  if (s.empty() || s.size() > stores::limits::stream_id_bytes_max || s == "$all")
    return false;
  for (auto c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return false;
  }
  return true;
}

bool valid_base64(const std::string& s) {
  if (s.size() % 4 != 0)
    return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = s[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0)
      return false; // data after padding
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
          || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return false;
  }
  return pad <= 2;
}

/// Reads the params of one call, remembering the first problem.
class param_reader {
public:
  explicit param_reader(const json& params) : p_(params) {
  }

  bool has(const char* key) const {
    auto i = p_.find(key);
    return i != p_.end() && !i->is_null();
  }

  const json& at(const char* key) const {
    return p_.at(key);
  }

  /// A required or optional string; `max` bytes at most.
  bool string(const char* key, std::string& out, bool required,
              size_t max = SIZE_MAX) {
    if (!has(key)) {
      if (required)
        return fail(key, std::string{"missing parameter "} + key);
      return true;
    }
    auto& v = p_.at(key);
    if (!v.is_string())
      return fail(key, std::string{key} + " must be a string");
    out = v.get<std::string>();
    if (out.size() > max)
      return fail(key, std::string{key} + " is longer than "
                         + std::to_string(max) + " bytes");
    return true;
  }

  /// An optional integer within [lo, hi].
  bool integer(const char* key, int64_t& out, int64_t lo, int64_t hi,
               bool required = false) {
    if (!has(key)) {
      if (required)
        return fail(key, std::string{"missing parameter "} + key);
      return true;
    }
    auto& v = p_.at(key);
    if (!v.is_number_integer())
      return fail(key, std::string{key} + " must be an integer");
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
      return fail(key, std::string{key} + " must be at most "
                         + std::to_string(hi));
    auto x = v.get<int64_t>();
    if (x < lo || x > hi)
      return fail(key, std::string{key} + " must be between "
                         + std::to_string(lo) + " and " + std::to_string(hi));
    out = x;
    return true;
  }

  /// An optional boolean.
  bool boolean(const char* key, bool& out) {
    if (!has(key))
      return true;
    auto& v = p_.at(key);
    if (!v.is_boolean())
      return fail(key, std::string{key} + " must be true or false");
    out = v.get<bool>();
    return true;
  }

  /// `direction`: forward (default) or backward.
  bool direction(bool& backward) {
    std::string d = "forward";
    if (!string("direction", d, false))
      return false;
    if (d != "forward" && d != "backward")
      return fail("direction", "direction must be \"forward\" or \"backward\"");
    backward = d == "backward";
    return true;
  }

  bool fail(const std::string& field, std::string message) {
    if (!err_)
      err_ = invalid_param(field, std::move(message));
    return false;
  }

  bool fail(rpc_error e) {
    if (!err_)
      err_ = std::move(e);
    return false;
  }

  rpc_error take_error() {
    return err_ ? std::move(*err_) : make_rpc_error(errc::internal_error, "?");
  }

private:
  const json& p_;
  std::optional<rpc_error> err_;
};

bool parse_expected(param_reader& in, parsed_call& call,
                    stores::expected_version& out) {
  using ev = stores::expected_version;
  out = ev{ev::any, -1};
  call.expected_as_sent = "any";
  if (!in.has("expected_version"))
    return true;
  auto& v = in.at("expected_version");
  call.expected_as_sent = v;
  if (v.is_string()) {
    auto s = v.get<std::string>();
    if (s == "any")
      out.kind = ev::any;
    else if (s == "no_stream")
      out.kind = ev::no_stream;
    else if (s == "stream_exists")
      out.kind = ev::stream_exists;
    else
      return in.fail("expected_version",
                     "expected_version must be \"any\", \"no_stream\", "
                     "\"stream_exists\" or an integer >= -1");
    return true;
  }
  if (v.is_number_integer() && !(v.is_number_unsigned()
                                 && v.get<uint64_t>() > INT64_MAX)) {
    auto x = v.get<int64_t>();
    if (x < -1)
      return in.fail("expected_version", "expected_version must be >= -1");
    if (x == -1)
      out.kind = ev::no_stream;
    else
      out = ev{ev::exact, x};
    return true;
  }
  return in.fail("expected_version",
                 "expected_version must be \"any\", \"no_stream\", "
                 "\"stream_exists\" or an integer >= -1");
}

bool parse_events(param_reader& in, const parse_context& ctx,
                  std::vector<stores::event_input>& out) {
  if (!in.has("events"))
    return in.fail("events", "missing parameter events");
  auto& arr = in.at("events");
  if (!arr.is_array())
    return in.fail("events", "events must be an array");
  if (arr.size() > stores::limits::batch_events_max) {
    auto e = make_rpc_error(errc::too_large,
                            "a batch holds at most "
                              + std::to_string(stores::limits::batch_events_max)
                              + " events");
    e.data["limit"] = stores::limits::batch_events_max;
    return in.fail(std::move(e));
  }
  std::set<std::string> ids;
  out.reserve(arr.size());
  auto epoch_ms = ctx.now_us / 1000;
  for (size_t i = 0; i < arr.size(); ++i) {
    auto field = [&](const char* name) {
      return "events[" + std::to_string(i) + "]" + (*name ? "." : "") + name;
    };
    auto& e = arr[i];
    if (!e.is_object())
      return in.fail(field(""), "an event must be an object");
    for (auto& kv : e.items()) {
      auto& k = kv.key();
      if (k != "event_id" && k != "event_type" && k != "data"
          && k != "metadata" && k != "content_type")
        return in.fail(field(k.c_str()), "unknown event field " + k);
    }
    stores::event_input ev;
    auto t = e.find("event_type");
    if (t == e.end() || !t->is_string() || t->get_ref<const std::string&>().empty())
      return in.fail(field("event_type"),
                     "event_type must be a non-empty string");
    ev.event_type = t->get<std::string>();
    if (ev.event_type.size() > stores::limits::event_type_bytes_max)
      return in.fail(field("event_type"), "event_type is longer than 255 bytes");
    auto d = e.find("data");
    if (d == e.end())
      return in.fail(field("data"), "missing event data");
    ev.content_type = "application/json";
    auto ct = e.find("content_type");
    if (ct != e.end() && !ct->is_null()) {
      if (!ct->is_string()
          || (*ct != "application/json" && *ct != "application/octet-stream"))
        return in.fail(field("content_type"),
                       "content_type must be \"application/json\" or "
                       "\"application/octet-stream\"");
      ev.content_type = ct->get<std::string>();
    }
    if (ev.content_type == "application/octet-stream"
        && (!d->is_string() || !valid_base64(d->get<std::string>())))
      return in.fail(field("data"),
                     "binary data must be a base64 string");
    // The text as received when the DOM only holds a placeholder for it.
    const raw_event_text* raw = ctx.raw_events != nullptr
                                    && i < ctx.raw_events->size()
                                  ? &(*ctx.raw_events)[i]
                                  : nullptr;
    ev.data = raw != nullptr && !raw->data.empty() ? std::string{raw->data}
                                                   : d->dump();
    auto md = e.find("metadata");
    ev.metadata = raw != nullptr && !raw->metadata.empty()
                    ? std::string{raw->metadata}
                  : md == e.end() ? "null"
                                  : md->dump();
    auto id = e.find("event_id");
    if (id != e.end() && !id->is_null()) {
      if (!id->is_string() || !valid_uuid(id->get<std::string>()))
        return in.fail(field("event_id"), "event_id must be a UUID string");
      ev.event_id = canonical_uuid(id->get<std::string>());
    } else {
      ev.event_id = ctx.uuids->next(epoch_ms);
    }
    if (!ids.insert(ev.event_id).second)
      return in.fail("events", "event_id " + ev.event_id
                                 + " appears twice in the batch");
    auto size = ev.data.size() + ev.metadata.size() + ev.event_type.size()
                + ev.event_id.size() + ev.content_type.size();
    if (size > ctx.limits->event_bytes_max) {
      auto err = make_rpc_error(errc::too_large,
                                "event " + std::to_string(i) + " has "
                                  + std::to_string(size)
                                  + " bytes, more than the limit");
      err.data["limit"] = ctx.limits->event_bytes_max;
      err.data["field"] = field("");
      return in.fail(std::move(err));
    }
    out.push_back(std::move(ev));
  }
  return true;
}

bool parse_config(param_reader& in, stores::store_config& cfg) {
  if (!in.has("config"))
    return true;
  auto& c = in.at("config");
  if (!c.is_object())
    return in.fail("config", "config must be an object");
  for (auto& kv : c.items()) {
    auto& k = kv.key();
    auto& v = kv.value();
    auto field = "config." + k;
    if (k == "timeout_ms") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1
          || v.get<int64_t>() > stores::store_config::timeout_ms_max)
        return in.fail(field, "timeout_ms must be an integer from 1 to "
                                + std::to_string(
                                  stores::store_config::timeout_ms_max));
      cfg.timeout_ms = v.get<int64_t>();
    } else if (k == "replication_factor") {
      // A replication factor above the cluster size places a replica on
      // every node.
      if (!v.is_number_integer() || v.get<int64_t>() < 1
          || v.get<int64_t>() > stores::store_config::replication_factor_max)
        return in.fail(field, "replication_factor must be an integer from 1 "
                              "to 7");
      cfg.replication_factor = v.get<int64_t>();
    } else if (k == "description") {
      if (v.is_null())
        continue;
      if (!v.is_string() || v.get_ref<const std::string&>().size() > 4096)
        return in.fail(field, "description must be a string of at most 4096 "
                              "bytes");
      cfg.has_description = true;
      cfg.description = v.get<std::string>();
    } else if (k == "retention") {
      if (!v.is_object())
        return in.fail(field, "retention must be an object with max_count "
                              "and/or max_age_s");
      for (auto& r : v.items()) {
        auto rfield = field + "." + r.key();
        auto& x = r.value();
        if (r.key() == "max_count") {
          if (!x.is_number_integer() || x.get<int64_t>() < 1
              || (x.is_number_unsigned() && x.get<uint64_t>() > INT64_MAX))
            return in.fail(rfield, "max_count must be an integer >= 1");
          cfg.retention_max_count = x.get<int64_t>();
        } else if (r.key() == "max_age_s") {
          if (!x.is_number_integer() || x.get<int64_t>() < 1
              || x.get<int64_t>() > stores::limits::max_age_s_max)
            return in.fail(rfield, "max_age_s must be an integer from 1 to "
                                     + std::to_string(
                                       stores::limits::max_age_s_max));
          cfg.retention_max_age_s = x.get<int64_t>();
        } else {
          return in.fail(rfield, "unknown retention key " + r.key());
        }
      }
    } else if (k == "tags") {
      if (!v.is_array() || v.size() > 64)
        return in.fail(field, "tags must be an array of at most 64 strings");
      for (auto& t : v) {
        if (!t.is_string() || t.get_ref<const std::string&>().size() > 255)
          return in.fail(field, "tags must be strings of at most 255 bytes");
        cfg.tags.push_back(t.get<std::string>());
      }
    } else {
      return in.fail(field, "unknown config key " + k);
    }
  }
  return true;
}

bool parse_snapshot_key(param_reader& in, std::string& source,
                        std::string& stream, bool required) {
  constexpr auto max = stores::limits::snapshot_key_bytes_max;
  if (!in.string("source_uuid", source, required, max)
      || !in.string("stream_uuid", stream, required, max))
    return false;
  if (required && source.empty())
    return in.fail("source_uuid", "source_uuid must not be empty");
  if (required && stream.empty())
    return in.fail("stream_uuid", "stream_uuid must not be empty");
  return true;
}

bool parse_filter(param_reader& in, const std::string& type,
                  stores::subscription_filter& out) {
  if (!in.has("selector"))
    return in.fail("selector", "missing parameter selector");
  std::string err;
  if (!stores::subscription_filter::parse(type, in.at("selector"), out, err))
    return in.fail(err.rfind("type", 0) == 0 ? "type" : "selector", err);
  return true;
}

/// A subscription name: "transient" (the default) or a persistent name of
/// letters, digits, '_', '-', '.' and ':', at most 255 bytes.
bool parse_name(param_reader& in, std::string& name, bool persistent_only) {
  if (!in.string("name", name, persistent_only, 255))
    return false;
  if (name.empty())
    name = "transient";
  for (auto c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-'
        && c != '.' && c != ':')
      return in.fail("name", "name may hold letters, digits, '_', '-', '.' "
                             "and ':' only");
  if (persistent_only && name == "transient")
    return in.fail("name", "transient subscriptions end with their "
                           "connection; unsubscribe instead");
  return true;
}

bool parse_start(param_reader& in, stores::start_from& out) {
  out = stores::start_from{stores::start_from::current, 0};
  if (!in.has("start_from"))
    return true;
  auto& v = in.at("start_from");
  if (v == "origin") {
    out.kind = stores::start_from::origin;
  } else if (v == "current") {
    out.kind = stores::start_from::current;
  } else if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out.kind = stores::start_from::position;
    out.value = v.get<int64_t>();
  } else {
    return in.fail("start_from", "start_from must be \"origin\", "
                                 "\"current\" or a position >= 0");
  }
  return true;
}

} // namespace

size_t json_depth(const std::string& text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

rpc_error make_rpc_error(errc reason, std::string message) {
  rpc_error e;
  e.reason = reason;
  e.message = std::move(message);
  return e;
}

rpc_error invalid_param(const std::string& field, std::string message) {
  auto e = make_rpc_error(errc::invalid_params, std::move(message));
  e.data["field"] = field;
  return e;
}

bool valid_template_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (auto c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return false;
  return true;
}

std::optional<std::string> check_store_templates(const json& t) {
  if (!t.is_object())
    return std::string{"store_templates must be an object of template "
                       "names to create_store configs"};
  rpc_limits limits;
  std::string store = "template_check";
  for (auto& kv : t.items()) {
    if (!valid_template_name(kv.key()))
      return "store_templates: " + json(kv.key()).dump()
             + " is not a template name (1 to 64 letters, digits, '_' and "
               "'-')";
    parse_context ctx;
    ctx.limits = &limits;
    ctx.default_store = &store;
    auto r = parse_call(method::create_store,
                        json{{"store", store}, {"config", kv.value()}}, ctx);
    if (auto e = std::get_if<rpc_error>(&r))
      return "store_templates." + kv.key() + ": " + e->message;
  }
  return std::nullopt;
}

bool find_method(const std::string& name, method& out) {
  auto& t = method_table();
  auto i = t.find(name);
  if (i == t.end())
    return false;
  out = i->second;
  return true;
}

std::string method_name(method m) {
  for (auto& kv : method_table())
    if (kv.second == m)
      return kv.first;
  CXESDB_ASSERT(false && "a method without a name");
  return {};
}

bool is_write(method m) {
  return m == method::append_events || m == method::record_snapshot
         || m == method::delete_snapshot || m == method::delete_stream
         || m == method::truncate_stream || m == method::set_stream_metadata;
}

bool is_subscription(method m) {
  return m == method::save_subscription || m == method::unsubscribe
         || m == method::remove_subscription || m == method::get_subscriptions
         || m == method::ack_event;
}

bool is_read(method m) {
  return m == method::get_events || m == method::get_version
         || m == method::get_streams || m == method::read_all
         || m == method::read_snapshot || m == method::list_snapshots
         || m == method::get_stream_metadata;
}

std::variant<parsed_call, rpc_error>
parse_call(method m, const json& params, const parse_context& ctx) {
  parsed_call call;
  call.m = m;
  if (!params.is_object())
    return invalid_param("params", "params must be an object");
  auto& allowed = allowed_params(m);
  for (auto& kv : params.items()) {
    auto& k = kv.key();
    bool ok = k == "store";
    for (auto& a : allowed)
      ok = ok || k == a;
    if (!ok)
      return invalid_param(k, "unknown parameter " + k);
  }
  param_reader in{params};
  call.store = *ctx.default_store;
  if (!in.string("store", call.store, false))
    return in.take_error();
  if (!stores::valid_store_id(call.store))
    return invalid_param("store", "invalid store id: must match "
                                  "^[a-z][a-z0-9_]{0,62}$");
  auto stream = [&](std::string& out) {
    if (!in.string("stream", out, true))
      return false;
    if (!valid_stream_id(out))
      return in.fail("stream", "stream must be a non-empty string of at most "
                               "1024 bytes without control characters, and "
                               "not $all");
    return true;
  };
  switch (m) {
    case method::create_store: {
      call.config.id = call.store;
      if (!params.contains("store"))
        return invalid_param("store", "missing parameter store");
      if (in.has("template")) {
        // Section 10: the template's config, overridden key by key by the
        // request's.
        std::string name;
        if (!in.string("template", name, true))
          return in.take_error();
        auto t = ctx.store_templates;
        if (t == nullptr || !t->is_object() || !t->contains(name)) {
          std::string known;
          if (t != nullptr && t->is_object())
            for (auto& kv : t->items())
              known += (known.empty() ? "" : ", ") + kv.key();
          return invalid_param("template",
                               "unknown template " + json(name).dump()
                                 + " (the config file's store_templates: "
                                 + (known.empty() ? "none" : known) + ")");
        }
        json merged = t->at(name);
        if (in.has("config")) {
          if (!in.at("config").is_object())
            return invalid_param("config", "config must be an object");
          for (auto& kv : in.at("config").items())
            merged[kv.key()] = kv.value();
        }
        json with{{"config", std::move(merged)}};
        param_reader tin{with};
        if (!parse_config(tin, call.config))
          return tin.take_error();
        break;
      }
      if (!parse_config(in, call.config))
        return in.take_error();
      break;
    }
    case method::append_events: {
      stores::append_cmd cmd;
      cmd.created_epoch_us = ctx.now_us;
      if (!stream(cmd.stream) || !parse_expected(in, call, cmd.expected)
          || !parse_events(in, ctx, cmd.events))
        return in.take_error();
      call.cmd = std::move(cmd);
      break;
    }
    case method::get_events: {
      stores::read_stream_query q;
      q.now_epoch_us = ctx.now_us;
      if (!stream(q.stream) || !in.direction(q.backward)
          || !in.integer("start", q.start, 0, INT64_MAX)
          || !in.integer("count", q.count, 1, stores::limits::read_count_max))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::delete_stream: {
      stores::delete_stream_cmd c;
      if (!stream(c.stream) || !parse_expected(in, call, c.expected)
          || !in.boolean("hard", c.hard))
        return in.take_error();
      call.cmd = std::move(c);
      break;
    }
    case method::truncate_stream: {
      stores::truncate_stream_cmd c;
      if (!stream(c.stream)
          || !in.integer("before", c.before, 0, INT64_MAX, true))
        return in.take_error();
      call.cmd = std::move(c);
      break;
    }
    case method::set_stream_metadata: {
      stores::set_stream_metadata_cmd c;
      c.now_epoch_us = ctx.now_us;
      auto& md = c.metadata;
      if (!stream(c.stream)
          || !in.integer("max_count", md.max_count, 1, INT64_MAX)
          || !in.integer("max_age_s", md.max_age_s, 1,
                         stores::limits::max_age_s_max))
        return in.take_error();
      if (in.has("custom")) {
        if (!params["custom"].is_object())
          return invalid_param("custom", "custom must be an object");
        md.custom = params["custom"].dump();
        if (md.custom.size() > ctx.limits->event_bytes_max) {
          auto e = make_rpc_error(errc::too_large,
                                  "custom is larger than the event limit");
          e.data["limit"] = ctx.limits->event_bytes_max;
          e.data["field"] = "custom";
          return e;
        }
      }
      call.cmd = std::move(c);
      break;
    }
    case method::scavenge_store:
      call.cmd = stores::scavenge_cmd{stores::limits::scavenge_rows_per_step,
                                      stores::limits::scavenge_pages_per_step,
                                      true, ctx.now_us};
      break;
    case method::get_stream_metadata: {
      stores::stream_metadata_query q;
      if (!stream(q.stream))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::get_version: {
      stores::stream_version_query q;
      if (!stream(q.stream))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::get_streams: {
      stores::list_streams_query q;
      q.has_after = in.has("after");
      if (!in.string("after", q.after, false, stores::limits::stream_id_bytes_max)
          || !in.integer("limit", q.limit, 1, stores::limits::streams_page_max))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::read_all: {
      stores::read_all_query q;
      q.now_epoch_us = ctx.now_us;
      if (!in.direction(q.backward)
          || !in.integer("from_position", q.from, 0, INT64_MAX)
          || !in.integer("count", q.count, 1, stores::limits::read_count_max))
        return in.take_error();
      call.q = q;
      break;
    }
    case method::record_snapshot: {
      stores::snapshot_record s;
      if (!parse_snapshot_key(in, s.source_uuid, s.stream_uuid, true)
          || !in.integer("version", s.version, 0, INT64_MAX, true))
        return in.take_error();
      if (!params.contains("data"))
        return invalid_param("data", "missing parameter data");
      s.data = params["data"].dump();
      s.metadata = params.contains("metadata") ? params["metadata"].dump()
                                               : "null";
      s.source_type = "null";
      if (in.has("source_type")) {
        if (!params["source_type"].is_string())
          return invalid_param("source_type", "source_type must be a string");
        s.source_type = params["source_type"].dump();
      }
      auto size = s.data.size() + s.metadata.size() + s.source_type.size();
      if (size > ctx.limits->event_bytes_max) {
        auto e = make_rpc_error(errc::too_large,
                                "the snapshot is larger than the limit");
        e.data["limit"] = ctx.limits->event_bytes_max;
        return e;
      }
      s.created_epoch_us = ctx.now_us;
      call.cmd = stores::record_snapshot_cmd{std::move(s)};
      break;
    }
    case method::read_snapshot: {
      stores::read_snapshot_query q;
      if (!parse_snapshot_key(in, q.source_uuid, q.stream_uuid, true)
          || !in.integer("version", q.version, 0, INT64_MAX))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::delete_snapshot: {
      stores::delete_snapshot_cmd c;
      if (!parse_snapshot_key(in, c.source_uuid, c.stream_uuid, true)
          || !in.integer("version", c.version, 0, INT64_MAX, true))
        return in.take_error();
      call.cmd = std::move(c);
      break;
    }
    case method::list_snapshots: {
      stores::list_snapshots_query q;
      if (!parse_snapshot_key(in, q.source_uuid, q.stream_uuid, false))
        return in.take_error();
      call.q = std::move(q);
      break;
    }
    case method::save_subscription: {
      auto& req = call.subscribe;
      req.store = call.store;
      std::string type;
      if (!in.string("type", type, true) || !parse_filter(in, type, req.filter)
          || !parse_name(in, req.name, false) || !parse_start(in, req.start)
          || !in.integer("max_in_flight", req.max_in_flight, 1,
                         stores::subscription_limits::max_in_flight_max))
        return in.take_error();
      break;
    }
    case method::remove_subscription: {
      stores::subscription_filter f;
      if (!in.string("type", call.sub_type, true)
          || !parse_filter(in, call.sub_type, f)
          || !parse_name(in, call.subscription, true))
        return in.take_error();
      call.sub_selector = f.selector_text();
      break;
    }
    case method::unsubscribe:
      if (!in.string("subscription", call.subscription, true, 255))
        return in.take_error();
      break;
    case method::leave_cluster:
      if (!in.string("node", call.node, true, 255))
        return in.take_error();
      break;
    case method::backup_store:
    case method::restore_store: {
      // Section 10: a backup name matches the store id pattern, so it
      // never names a path outside the backup directory.
      auto field = m == method::backup_store ? "name" : "backup";
      if (!in.string(field, call.backup, true))
        return in.take_error();
      if (!stores::valid_backup_name(call.backup))
        return invalid_param(field, std::string{field}
                                      + " must match ^[a-z][a-z0-9_]{0,62}$");
      if (m == method::restore_store && !params.contains("store"))
        return invalid_param("store", "missing parameter store");
      break;
    }
    case method::ack_event:
      if (!in.string("subscription", call.subscription, true, 255)
          || !in.integer("position", call.position, 0, INT64_MAX, true))
        return in.take_error();
      break;
    default:
      break;
  }
  return call;
}

// -- formatting ---------------------------------------------------------------

void append_event_json(std::string& out, const stores::recorded_event& e) {
  out += "{\"stream_id\":";
  out += json_string(e.stream_id);
  out += ",\"event_number\":";
  out += std::to_string(e.event_number);
  out += ",\"position\":";
  out += std::to_string(e.position);
  out += ",\"event_id\":\"";
  out += e.event_id;
  out += "\",\"event_type\":";
  out += json_string(e.event_type);
  out += ",\"data\":";
  out += e.data; // JSON text as stored: no re-serialisation
  out += ",\"metadata\":";
  out += e.metadata;
  out += ",\"content_type\":\"";
  out += e.content_type;
  out += "\",\"created\":\"";
  out += stores::format_iso8601_us(e.created_epoch_us);
  out += "\",\"created_epoch\":";
  out += std::to_string(e.created_epoch_us);
  out += '}';
}

namespace {

void append_snapshot_json(std::string& out, const stores::snapshot_record& s) {
  out += "{\"source_uuid\":";
  out += json_string(s.source_uuid);
  out += ",\"stream_uuid\":";
  out += json_string(s.stream_uuid);
  out += ",\"version\":";
  out += std::to_string(s.version);
  out += ",\"source_type\":";
  out += s.source_type;
  out += ",\"data\":";
  out += s.data;
  out += ",\"metadata\":";
  out += s.metadata;
  out += ",\"created\":\"";
  out += stores::format_iso8601_us(s.created_epoch_us);
  out += "\",\"created_epoch\":";
  out += std::to_string(s.created_epoch_us);
  out += '}';
}

std::string events_array(const std::vector<stores::recorded_event>& events) {
  std::string out = "[";
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0)
      out += ',';
    append_event_json(out, events[i]);
  }
  out += ']';
  return out;
}

/// The stream a call names, for `stream_deleted`'s data.
std::string call_stream(const parsed_call& call) {
  if (is_read(call.m))
    return std::visit(
      [](const auto& q) -> std::string {
        using Q = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<Q, stores::read_stream_query>
                      || std::is_same_v<Q, stores::stream_version_query>
                      || std::is_same_v<Q, stores::stream_metadata_query>
                      || std::is_same_v<Q, stores::read_all_query>)
          return q.stream;
        else
          return {};
      },
      call.q);
  return std::visit(
    [](const auto& x) -> std::string {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, stores::append_cmd>
                    || std::is_same_v<T, stores::delete_stream_cmd>
                    || std::is_same_v<T, stores::truncate_stream_cmd>
                    || std::is_same_v<T, stores::set_stream_metadata_cmd>)
        return x.stream;
      else
        return {};
    },
    call.cmd);
}

rpc_error stream_deleted_error(const parsed_call& call) {
  auto stream = call_stream(call);
  auto e = make_rpc_error(errc::stream_deleted,
                          "stream " + stream + " was deleted for good");
  e.data["stream"] = stream;
  return e;
}

/// A stream's metadata as the protocol shows it: the keys that are set.
std::string metadata_json(const stores::stream_metadata& m) {
  std::string out = "{\"metadata\":{";
  bool any = false;
  auto key = [&](const char* k) {
    if (any)
      out += ',';
    any = true;
    out += '"';
    out += k;
    out += "\":";
  };
  if (m.max_count > 0) {
    key("max_count");
    out += std::to_string(m.max_count);
  }
  if (m.max_age_s > 0) {
    key("max_age_s");
    out += std::to_string(m.max_age_s);
  }
  if (m.custom != "null") {
    key("custom");
    out += m.custom;
  }
  out += "}}";
  return out;
}

rpc_error storage_error(const std::string& message) {
  // Nothing was written: the client may retry.
  return make_rpc_error(errc::unavailable, "storage failed: " + message);
}

} // namespace

std::variant<std::string, rpc_error>
format_write(const parsed_call& call, const stores::command_result& r) {
  using stores::result_code;
  switch (r.code) {
    case result_code::ok:
      break;
    case result_code::wrong_expected_version: {
      auto e = make_rpc_error(errc::wrong_expected_version,
                              "expected version "
                                + call.expected_as_sent.dump()
                                + ", but the stream is at version "
                                + std::to_string(r.current_version));
      e.data["current_version"] = r.current_version;
      e.data["expected_version"] = call.expected_as_sent;
      return e;
    }
    case result_code::duplicate_event:
      return make_rpc_error(errc::duplicate_event,
                            "some, but not all, of the batch's event ids are "
                            "already in the stream");
    case result_code::not_found: {
      auto e = make_rpc_error(errc::not_found, "no such snapshot");
      e.data["what"] = "snapshot";
      return e;
    }
    case result_code::already_exists:
      return make_rpc_error(errc::already_exists, "already exists");
    case result_code::storage_failed:
      return storage_error(r.message);
    case result_code::stream_deleted:
      return stream_deleted_error(call);
  }
  switch (call.m) {
    case method::append_events:
      return "{\"version\":" + std::to_string(r.version) + ",\"position\":"
             + (r.position < 0 ? std::string{"null"}
                               : std::to_string(r.position))
             + "}";
    case method::record_snapshot:
      return std::string{"{\"recorded\":true}"};
    case method::delete_snapshot:
      return std::string{"{\"deleted\":true}"};
    case method::delete_stream:
      return "{\"deleted\":true,\"version\":" + std::to_string(r.version)
             + "}";
    case method::truncate_stream:
      return "{\"truncated\":true,\"first\":" + std::to_string(r.first)
             + "}";
    case method::set_stream_metadata:
      return metadata_json(
        std::get<stores::set_stream_metadata_cmd>(call.cmd).metadata);
    default:
      return make_rpc_error(errc::internal_error, "not a write");
  }
}

std::variant<std::string, rpc_error>
format_read(const parsed_call& call, const stores::query_result& r) {
  using stores::result_code;
  if (r.code == result_code::storage_failed)
    return storage_error(r.message);
  if (r.code == result_code::stream_deleted)
    return stream_deleted_error(call);
  if (r.code == result_code::not_found) {
    auto e = make_rpc_error(errc::not_found, "no such snapshot");
    e.data["what"] = "snapshot";
    return e;
  }
  switch (call.m) {
    case method::get_events:
      return "{\"events\":" + events_array(r.events) + "}";
    case method::get_version:
      return "{\"version\":" + std::to_string(r.version) + "}";
    case method::get_stream_metadata:
      return metadata_json(r.metadata);
    case method::get_streams: {
      json streams = r.streams;
      return "{\"streams\":" + streams.dump() + ",\"next_after\":"
             + (r.has_next ? json_string(r.next_after) : std::string{"null"})
             + "}";
    }
    case method::read_all:
      return "{\"events\":" + events_array(r.events) + ",\"next_position\":"
             + (r.has_next ? std::to_string(r.next_position)
                           : std::string{"null"})
             + "}";
    case method::read_snapshot: {
      std::string out = "{\"snapshot\":";
      append_snapshot_json(out, r.snapshots.at(0));
      out += '}';
      return out;
    }
    case method::list_snapshots: {
      std::string out = "{\"snapshots\":[";
      for (size_t i = 0; i < r.snapshots.size(); ++i) {
        if (i > 0)
          out += ',';
        append_snapshot_json(out, r.snapshots[i]);
      }
      out += "]}";
      return out;
    }
    default:
      return make_rpc_error(errc::internal_error, "not a read");
  }
}

json config_json(const stores::store_config& cfg) {
  json j{{"timeout_ms", cfg.timeout_ms},
         {"replication_factor", cfg.replication_factor},
         {"tags", cfg.tags},
         {"data_dir", cfg.data_dir},
         {"created_at", cfg.created_at}};
  j["description"] = cfg.has_description ? json(cfg.description) : json(nullptr);
  // Only when set: a config without it reads as before retention existed
  // (the C++ client's store_config mirrors these keys).
  json retention = json::object();
  if (cfg.retention_max_count > 0)
    retention["max_count"] = cfg.retention_max_count;
  if (cfg.retention_max_age_s > 0)
    retention["max_age_s"] = cfg.retention_max_age_s;
  if (!retention.empty())
    j["retention"] = std::move(retention);
  return j;
}

std::string event_notification(const std::string& store,
                               const std::string& subscription,
                               const stores::recorded_event& e) {
  std::string out;
  out.reserve(e.data.size() + e.metadata.size() + 400);
  out += R"({"jsonrpc":"2.0","method":"event","params":{"store":")";
  out += store; // store ids need no escaping
  out += R"(","subscription":)";
  out += json_string(subscription);
  out += R"(,"event":)";
  append_event_json(out, e);
  out += "}}";
  return out;
}

std::string dropped_notification(const std::string& store,
                                 const std::string& subscription,
                                 const std::string& reason) {
  json n{{"jsonrpc", "2.0"},
         {"method", "subscription_dropped"},
         {"params",
          {{"store", store}, {"subscription", subscription}, {"reason", reason}}}};
  return n.dump();
}

std::string format_subscriptions(
  const std::vector<stores::subscription_info>& infos) {
  json arr = json::array();
  for (auto& i : infos) {
    arr.push_back(json{{"subscription", i.subscription},
                       {"name", i.name},
                       {"type", i.type},
                       {"selector", json::parse(i.selector, nullptr, false)},
                       {"persistent", i.persistent},
                       {"checkpoint", i.checkpoint},
                       {"subscribers", i.subscribers},
                       {"lag", i.lag}});
  }
  return json{{"subscriptions", std::move(arr)}}.dump();
}

std::string response(const std::string& id_text, const std::string& result) {
  std::string out;
  out.reserve(result.size() + id_text.size() + 40);
  out += "{\"jsonrpc\":\"2.0\",\"id\":";
  out += id_text;
  out += ",\"result\":";
  out += result;
  out += '}';
  return out;
}

std::string error_response(const std::string& id_text, const rpc_error& err) {
  json data = err.data;
  data["reason"] = stores::to_reason(err.reason);
  json e{{"code", stores::to_code(err.reason)},
         {"message", err.message},
         {"data", std::move(data)}};
  return "{\"jsonrpc\":\"2.0\",\"id\":" + id_text + ",\"error\":" + e.dump()
         + "}";
}

} // namespace cxesdb::gateway
