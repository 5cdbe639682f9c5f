#include "gateway/client.hpp"

#include <atomic>
#include <future>
#include <set>
#include <memory>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/node_id.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/sec.hpp"

#include "gateway/relay.hpp"

namespace cxesdb::gateway {

using nlohmann::json;

namespace {

/// Methods that may change a store: when their answer is lost, the outcome
/// is unknown (`timeout`), not safe to retry (`unavailable`).
bool may_write(const std::string& method) {
  return method == "create_store" || method == "remove_store"
         || method == "append_events" || method == "record_snapshot"
         || method == "delete_snapshot" || method == "remove_subscription"
         || method == "save_subscription" || method == "ack_event"
         || method == "unsubscribe";
}

/// Maps an error of the CAF layer (not the node's) to the protocol.
caf::error from_transport(caf::actor_system& sys, const caf::error& err,
                          const std::string& method,
                          std::chrono::milliseconds timeout) {
  if (err.category() == error_category)
    return err;
  if (err == caf::sec::request_timeout)
    return make_client_error(errc::timeout,
                             "no answer to " + method + " within "
                               + std::to_string(timeout.count())
                               + " ms; the outcome is unknown");
  auto text = sys.render(err);
  if (may_write(method))
    return make_client_error(errc::timeout, "the connection failed during "
                                              + method + " (" + text
                                              + "); the outcome is unknown");
  return make_client_error(errc::unavailable, "the connection failed during "
                                                + method + " (" + text + ")");
}

/// A result that is not what the protocol says.
caf::error malformed(const std::string& method, const json& result,
                     const std::string& what) {
  return make_client_error(errc::internal_error,
                           "unexpected result of " + method + " (" + what
                             + "): " + result.dump().substr(0, 300));
}

/// Turns a JSON result into T with from_json, or an internal_error naming
/// what did not fit.
template <class T, class F>
caf::expected<T> convert(const std::string& method,
                         caf::expected<json> result, F f) {
  if (!result)
    return std::move(result.error());
  try {
    return f(*result);
  } catch (const json::exception& ex) {
    return malformed(method, *result, ex.what());
  }
}

caf::expected<void> check_flag(const std::string& method,
                               caf::expected<json> result, const char* key) {
  if (!result)
    return std::move(result.error());
  auto i = result->find(key);
  if (i == result->end() || *i != true)
    return malformed(method, *result, std::string{"no "} + key + ": true");
  return {};
}

/// `{"store": store}` or `{}` for the default store.
json store_params(const std::string& store) {
  json p = json::object();
  if (!store.empty())
    p["store"] = store;
  return p;
}

template <class T>
std::optional<T> opt(const json& j, const char* key) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return std::nullopt;
  return i->get<T>();
}

template <class T>
void put_opt(json& j, const char* key, const std::optional<T>& x) {
  j[key] = x ? json(*x) : json(nullptr);
}

const char* to_text(direction d) {
  return d == direction::forward ? "forward" : "backward";
}

} // namespace

// -- errors -------------------------------------------------------------------

errc reason_of(const caf::error& err) {
  if (err.category() != error_category)
    return errc::internal_error;
  return static_cast<errc>(err.code());
}

std::string message_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.size() >= 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

json data_of(const caf::error& err) {
  auto& ctx = err.context();
  if (err.category() == error_category && ctx.size() >= 2
      && ctx.match_element<std::string>(1)) {
    auto j = json::parse(ctx.get_as<std::string>(1), nullptr, false);
    if (j.is_object())
      return j;
  }
  auto reason = reason_of(err);
  return json{{"reason", stores::to_reason(reason)}};
}

caf::error make_client_error(errc reason, std::string message, json data) {
  data["reason"] = stores::to_reason(reason);
  return caf::error{static_cast<uint8_t>(reason), error_category,
                    caf::make_message(std::move(message), data.dump())};
}

void add_error_category(caf::actor_system_config& cfg) {
  // Not add_error_category<errc>: in CAF 0.17.6 that template does not
  // compile (its renderer lacks the category parameter).
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value,
                            const caf::message& ctx) {
                           std::string out = "cxesdb: ";
                           out += stores::to_reason(static_cast<errc>(code));
                           if (ctx.size() >= 1
                               && ctx.match_element<std::string>(0)) {
                             out += ": ";
                             out += ctx.get_as<std::string>(0);
                           }
                           if (ctx.size() >= 2
                               && ctx.match_element<std::string>(1)) {
                             out += " ";
                             out += ctx.get_as<std::string>(1);
                           }
                           return out;
                         });
}

// -- values -------------------------------------------------------------------

json expected_version::to_json() const {
  switch (kind_) {
    case kind::any:
      return "any";
    case kind::no_stream:
      return "no_stream";
    case kind::stream_exists:
      return "stream_exists";
    case kind::exactly:
      break;
  }
  return version_;
}

void to_json(json& j, const recorded_event& x) {
  j = json{{"stream_id", x.stream_id},       {"event_number", x.event_number},
           {"position", x.position},         {"event_id", x.event_id},
           {"event_type", x.event_type},     {"data", x.data},
           {"metadata", x.metadata},         {"content_type", x.content_type},
           {"created", x.created},           {"created_epoch", x.created_epoch}};
}

void from_json(const json& j, recorded_event& x) {
  j.at("stream_id").get_to(x.stream_id);
  j.at("event_number").get_to(x.event_number);
  j.at("position").get_to(x.position);
  j.at("event_id").get_to(x.event_id);
  j.at("event_type").get_to(x.event_type);
  x.data = j.at("data");
  x.metadata = j.value("metadata", json(nullptr));
  j.at("content_type").get_to(x.content_type);
  j.at("created").get_to(x.created);
  j.at("created_epoch").get_to(x.created_epoch);
}

void to_json(json& j, const event_data& x) {
  j = json{{"event_type", x.event_type}, {"data", x.data}};
  if (!x.metadata.is_null())
    j["metadata"] = x.metadata;
  if (!x.event_id.empty())
    j["event_id"] = x.event_id;
  if (!x.content_type.empty())
    j["content_type"] = x.content_type;
}

void to_json(json& j, const store_settings& x) {
  j = json::object();
  if (x.timeout_ms)
    j["timeout_ms"] = *x.timeout_ms;
  if (x.replication_factor)
    j["replication_factor"] = *x.replication_factor;
  if (x.description)
    j["description"] = *x.description;
  if (x.tags)
    j["tags"] = *x.tags;
}

void to_json(json& j, const store_config& x) {
  j = json{{"timeout_ms", x.timeout_ms},
           {"replication_factor", x.replication_factor},
           {"tags", x.tags},
           {"data_dir", x.data_dir},
           {"created_at", x.created_at}};
  put_opt(j, "description", x.description);
}

void from_json(const json& j, store_config& x) {
  j.at("timeout_ms").get_to(x.timeout_ms);
  j.at("replication_factor").get_to(x.replication_factor);
  x.description = opt<std::string>(j, "description");
  j.at("tags").get_to(x.tags);
  j.at("data_dir").get_to(x.data_dir);
  j.at("created_at").get_to(x.created_at);
}

void to_json(json& j, const store_info& x) {
  j = json{{"store", x.store}, {"status", x.status}, {"config", x.config}};
}

void from_json(const json& j, store_info& x) {
  x.store = j.value("store", std::string{});
  j.at("status").get_to(x.status);
  j.at("config").get_to(x.config);
}

void to_json(json& j, const append_result& x) {
  j = json{{"version", x.version}};
  put_opt(j, "position", x.position);
}

void from_json(const json& j, append_result& x) {
  j.at("version").get_to(x.version);
  x.position = opt<int64_t>(j, "position");
}

void to_json(json& j, const read_all_result& x) {
  j = json{{"events", x.events}};
  put_opt(j, "next_position", x.next_position);
}

void from_json(const json& j, read_all_result& x) {
  j.at("events").get_to(x.events);
  x.next_position = opt<int64_t>(j, "next_position");
}

void to_json(json& j, const streams_page& x) {
  j = json{{"streams", x.streams}};
  put_opt(j, "next_after", x.next_after);
}

void from_json(const json& j, streams_page& x) {
  j.at("streams").get_to(x.streams);
  x.next_after = opt<std::string>(j, "next_after");
}

void to_json(json& j, const snapshot& x) {
  j = json{{"source_uuid", x.source_uuid}, {"stream_uuid", x.stream_uuid},
           {"version", x.version},         {"data", x.data},
           {"metadata", x.metadata},       {"created", x.created},
           {"created_epoch", x.created_epoch}};
  put_opt(j, "source_type", x.source_type);
}

void from_json(const json& j, snapshot& x) {
  j.at("source_uuid").get_to(x.source_uuid);
  j.at("stream_uuid").get_to(x.stream_uuid);
  j.at("version").get_to(x.version);
  x.data = j.at("data");
  x.metadata = j.value("metadata", json(nullptr));
  x.source_type = opt<std::string>(j, "source_type");
  j.at("created").get_to(x.created);
  j.at("created_epoch").get_to(x.created_epoch);
}

void to_json(json& j, const subscription_info& x) {
  j = json{{"subscription", x.subscription}, {"name", x.name},
           {"type", x.type},                 {"selector", x.selector},
           {"persistent", x.persistent},     {"checkpoint", x.checkpoint},
           {"subscribers", x.subscribers},   {"lag", x.lag}};
}

void from_json(const json& j, subscription_info& x) {
  x.subscription = j.value("subscription", std::string{});
  j.at("name").get_to(x.name);
  j.at("type").get_to(x.type);
  x.selector = j.at("selector");
  j.at("persistent").get_to(x.persistent);
  j.at("checkpoint").get_to(x.checkpoint);
  j.at("subscribers").get_to(x.subscribers);
  x.lag = j.value("lag", int64_t{0});
}

void to_json(json& j, const subscription_request& x) {
  j = json{{"type", x.type}, {"selector", x.selector}, {"name", x.name}};
  if (!x.start_from.is_null())
    j["start_from"] = x.start_from;
  if (x.max_in_flight)
    j["max_in_flight"] = *x.max_in_flight;
}

void to_json(json& j, const subscribe_result& x) {
  j = json{{"subscription", x.subscription}, {"checkpoint", x.checkpoint}};
}

void from_json(const json& j, subscribe_result& x) {
  j.at("subscription").get_to(x.subscription);
  j.at("checkpoint").get_to(x.checkpoint);
}

void to_json(json& j, const health_info& x) {
  j = json{{"status", x.status}, {"node", x.node}};
}

void from_json(const json& j, health_info& x) {
  j.at("status").get_to(x.status);
  j.at("node").get_to(x.node);
}

void to_json(json& j, const cluster_node& x) {
  j = json{{"name", x.name},
           {"address", x.address},
           {"status", x.status},
           {"self", x.self}};
}

void from_json(const json& j, cluster_node& x) {
  j.at("name").get_to(x.name);
  j.at("address").get_to(x.address);
  j.at("status").get_to(x.status);
  j.at("self").get_to(x.self);
}

void to_json(json& j, const cluster_store& x) {
  j = json{{"members", x.members},
           {"term", x.term},
           {"commit_index", x.commit_index}};
  put_opt(j, "leader", x.leader);
}

void from_json(const json& j, cluster_store& x) {
  x.leader = opt<std::string>(j, "leader");
  j.at("members").get_to(x.members);
  j.at("term").get_to(x.term);
  j.at("commit_index").get_to(x.commit_index);
}

void to_json(json& j, const cluster_status_info& x) {
  j = json{{"node", x.node}, {"nodes", x.nodes}, {"stores", x.stores}};
}

void from_json(const json& j, cluster_status_info& x) {
  j.at("node").get_to(x.node);
  j.at("nodes").get_to(x.nodes);
  j.at("stores").get_to(x.stores);
}

// -- the client ---------------------------------------------------------------

client::client(caf::actor_system& sys, api_actor api,
               std::chrono::milliseconds call_timeout)
  : sys_(&sys),
    api_(std::move(api)),
    call_timeout_(call_timeout),
    relays_(std::make_shared<relay_registry>()) {
  // nop
}

void enable_tls(caf::actor_system_config& cfg, const std::string& cert_file,
                const std::string& key_file, const std::string& ca_file) {
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = cert_file;
  cfg.openssl_key = key_file;
  cfg.openssl_cafile = ca_file;
}

caf::expected<client> client::connect(caf::actor_system& sys,
                                      const std::string& host, uint16_t port,
                                      client_options opts) {
  auto where = host + ":" + std::to_string(port);
  if (!sys.has_middleman())
    return make_client_error(errc::internal_error,
                             "the actor system has no middleman; load it "
                             "with cfg.load<caf::io::middleman>()");
  if (opts.tls && !sys.has_openssl_manager())
    return make_client_error(errc::internal_error,
                             "the actor system has no OpenSSL module; load "
                             "it with enable_tls(cfg, ...)");
  // Not middleman::remote_actor: it waits without a limit, and a port that
  // accepts TCP but speaks no CAF (a JSON-RPC port, say) never completes
  // the handshake. The middleman actor does the same work with a timeout.
  auto unavailable = [&](const std::string& why) {
    return make_client_error(errc::unavailable, "cannot reach the cxesdb API "
                                                "at "
                                                  + where + ": " + why);
  };
  caf::expected<client> out{unavailable("no answer")};
  caf::scoped_actor self{sys};
  auto connector = opts.tls ? sys.openssl_manager().actor_handle()
                            : sys.middleman().actor_handle();
  self
    ->request(connector, opts.connect_timeout, caf::connect_atom::value, host,
              port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>& ifs) {
        if (!ptr)
          out = unavailable("no actor is published there");
        else if (!sys.assignable<api_actor>(ifs))
          out = unavailable("the actor published there is not a cxesdb "
                            "API actor");
        else
          out = client{sys, caf::actor_cast<api_actor>(std::move(ptr)),
                       opts.call_timeout};
      },
      [&](caf::error& err) {
        if (err == caf::sec::request_timeout)
          out = unavailable("no CAF handshake within "
                            + std::to_string(opts.connect_timeout.count())
                            + " ms");
        else
          out = unavailable(sys.render(err));
      });
  if (out && !opts.token.empty()) {
    auto signed_in = out->call("authenticate", {{"token", opts.token}});
    if (!signed_in)
      return std::move(signed_in.error());
  }
  return out;
}

namespace {

/// Sends `xs` to `dest` as a request and blocks the calling thread until the
/// answer (a `T`), an error or a failed connection. The request comes from a
/// short-lived actor that watches `dest`: a connection that drops (the
/// API's proxy dies) or a relay that stops fails the call at once instead
/// of after its timeout, which a blocking request in CAF 0.17 would wait
/// for. Errors are mapped to the protocol's reasons.
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, caf::actor dest,
                     std::chrono::milliseconds timeout,
                     const std::string& method, Ts... xs) {
  using answer = caf::expected<T>;
  auto done = std::make_shared<std::promise<answer>>();
  auto result = done->get_future();
  auto finish = [done, answered = std::make_shared<bool>(false)](answer x) {
    if (*answered)
      return;
    *answered = true;
    done->set_value(std::move(x));
  };
  auto psys = &sys;
  sys.spawn([psys, dest, timeout, method, finish,
             xs...](caf::event_based_actor* self) {
    self->monitor(dest);
    self->set_down_handler([=](const caf::down_msg& msg) {
      finish(from_transport(*psys, msg.reason ? msg.reason
                                               : caf::make_error(
                                                 caf::sec::
                                                   request_receiver_down),
                            method, timeout));
      self->quit();
    });
    self->request(dest, timeout, xs...)
      .then(
        [=](T& x) {
          finish(std::move(x));
          self->quit();
        },
        [=](caf::error& err) {
          finish(from_transport(*psys, err, method, timeout));
          self->quit();
        });
  });
  return result.get();
}

} // namespace

caf::expected<std::string> client::call_text(const std::string& method,
                                             const std::string& params) const {
  return ask<std::string>(*sys_, caf::actor_cast<caf::actor>(api_),
                          call_timeout_, method, actors::call_atom_v, method,
                          params);
}

caf::expected<json> client::call(const std::string& method,
                                 const json& params) const {
  std::string text;
  try {
    text = params.dump();
  } catch (const json::exception& ex) {
    // nlohmann refuses to print strings that are not UTF-8.
    return make_client_error(errc::invalid_params,
                             std::string{"params cannot be sent: "}
                               + ex.what());
  }
  auto result = call_text(method, text);
  if (!result)
    return std::move(result.error());
  auto j = json::parse(*result, nullptr, false);
  if (j.is_discarded())
    return make_client_error(errc::internal_error,
                             "the result of " + method + " is not JSON");
  return j;
}

caf::expected<store_info>
client::create_store(const std::string& store,
                     const store_settings& config) const {
  auto p = store_params(store);
  json cfg = config;
  if (!cfg.empty())
    p["config"] = std::move(cfg);
  return convert<store_info>("create_store", call("create_store", p),
                             [](const json& r) { return r.get<store_info>(); });
}

caf::expected<void> client::remove_store(const std::string& store) const {
  return check_flag("remove_store", call("remove_store", store_params(store)),
                    "removed");
}

caf::expected<std::map<std::string, store_info>> client::list_stores() const {
  using map_type = std::map<std::string, store_info>;
  return convert<map_type>("list_stores", call("list_stores"),
                           [](const json& r) {
                             map_type out;
                             for (auto& kv : r.at("stores").items()) {
                               auto info = kv.value().get<store_info>();
                               info.store = kv.key();
                               out.emplace(kv.key(), std::move(info));
                             }
                             return out;
                           });
}

caf::expected<std::string>
client::get_store_status(const std::string& store) const {
  return convert<std::string>("get_store_status",
                              call("get_store_status", store_params(store)),
                              [](const json& r) {
                                return r.at("status").get<std::string>();
                              });
}

caf::expected<store_config>
client::get_store_config(const std::string& store) const {
  return convert<store_config>("get_store_config",
                               call("get_store_config", store_params(store)),
                               [](const json& r) {
                                 return r.at("config").get<store_config>();
                               });
}

caf::expected<append_result>
client::append_events(const std::string& store, const std::string& stream,
                      expected_version expected,
                      const std::vector<event_data>& events) const {
  auto p = store_params(store);
  p["stream"] = stream;
  p["expected_version"] = expected.to_json();
  p["events"] = events;
  return convert<append_result>("append_events", call("append_events", p),
                                [](const json& r) {
                                  return r.get<append_result>();
                                });
}

caf::expected<std::vector<recorded_event>>
client::get_events(const std::string& store, const std::string& stream,
                   const read_options& opts) const {
  auto p = store_params(store);
  p["stream"] = stream;
  if (opts.start)
    p["start"] = *opts.start;
  if (opts.count)
    p["count"] = *opts.count;
  p["direction"] = to_text(opts.dir);
  using vec = std::vector<recorded_event>;
  return convert<vec>("get_events", call("get_events", p),
                      [](const json& r) { return r.at("events").get<vec>(); });
}

caf::expected<int64_t> client::get_version(const std::string& store,
                                           const std::string& stream) const {
  auto p = store_params(store);
  p["stream"] = stream;
  return convert<int64_t>("get_version", call("get_version", p),
                          [](const json& r) {
                            return r.at("version").get<int64_t>();
                          });
}

caf::expected<streams_page>
client::get_streams(const std::string& store,
                    const std::optional<std::string>& after,
                    std::optional<int64_t> limit) const {
  auto p = store_params(store);
  if (after)
    p["after"] = *after;
  if (limit)
    p["limit"] = *limit;
  return convert<streams_page>("get_streams", call("get_streams", p),
                               [](const json& r) {
                                 return r.get<streams_page>();
                               });
}

caf::expected<read_all_result>
client::read_all(const std::string& store,
                 const read_all_options& opts) const {
  auto p = store_params(store);
  if (opts.from_position)
    p["from_position"] = *opts.from_position;
  if (opts.count)
    p["count"] = *opts.count;
  p["direction"] = to_text(opts.dir);
  return convert<read_all_result>("read_all", call("read_all", p),
                                  [](const json& r) {
                                    return r.get<read_all_result>();
                                  });
}

caf::expected<void> client::record_snapshot(const std::string& store,
                                            const snapshot& snap) const {
  auto p = store_params(store);
  p["source_uuid"] = snap.source_uuid;
  p["stream_uuid"] = snap.stream_uuid;
  p["version"] = snap.version;
  p["data"] = snap.data;
  if (!snap.metadata.is_null())
    p["metadata"] = snap.metadata;
  if (snap.source_type)
    p["source_type"] = *snap.source_type;
  return check_flag("record_snapshot", call("record_snapshot", p),
                    "recorded");
}

caf::expected<snapshot>
client::read_snapshot(const std::string& store, const std::string& source_uuid,
                      const std::string& stream_uuid,
                      std::optional<int64_t> version) const {
  auto p = store_params(store);
  p["source_uuid"] = source_uuid;
  p["stream_uuid"] = stream_uuid;
  if (version)
    p["version"] = *version;
  return convert<snapshot>("read_snapshot", call("read_snapshot", p),
                           [](const json& r) {
                             return r.at("snapshot").get<snapshot>();
                           });
}

caf::expected<void> client::delete_snapshot(const std::string& store,
                                            const std::string& source_uuid,
                                            const std::string& stream_uuid,
                                            int64_t version) const {
  auto p = store_params(store);
  p["source_uuid"] = source_uuid;
  p["stream_uuid"] = stream_uuid;
  p["version"] = version;
  return check_flag("delete_snapshot", call("delete_snapshot", p), "deleted");
}

caf::expected<std::vector<snapshot>>
client::list_snapshots(const std::string& store,
                       const std::optional<std::string>& source_uuid,
                       const std::optional<std::string>& stream_uuid) const {
  auto p = store_params(store);
  if (source_uuid)
    p["source_uuid"] = *source_uuid;
  if (stream_uuid)
    p["stream_uuid"] = *stream_uuid;
  using vec = std::vector<snapshot>;
  return convert<vec>("list_snapshots", call("list_snapshots", p),
                      [](const json& r) {
                        return r.at("snapshots").get<vec>();
                      });
}

caf::expected<subscribe_result>
client::subscribe(const std::string& store, const subscription_request& req,
                  caf::actor receiver) const {
  if (!receiver)
    return make_client_error(errc::invalid_params, "no receiver actor",
                             json{{"field", "receiver"}});
  auto p = store_params(store);
  p.update(json(req));
  std::string params;
  try {
    params = p.dump();
  } catch (const json::exception& ex) {
    return make_client_error(errc::invalid_params,
                             std::string{"params cannot be sent: "}
                               + ex.what());
  }
  // The relay answers once, from its own thread; the caller waits here.
  using answer = caf::expected<subscribe_result>;
  auto done = std::make_shared<std::promise<answer>>();
  auto result = done->get_future();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  relay_args args;
  args.api = api_;
  args.store = store;
  args.params = std::move(params);
  if (req.name != "transient")
    args.claim = req.name;
  args.receiver = std::move(receiver);
  args.call_timeout = call_timeout_;
  args.registry = relays_;
  args.done = [done, answered](answer x) {
    if (!answered->exchange(true))
      done->set_value(std::move(x));
  };
  spawn_relay(*sys_, std::move(args));
  auto r = result.get();
  if (!r)
    return from_transport(*sys_, r.error(), "save_subscription",
                          call_timeout_);
  return r;
}

namespace {

/// The relay of one of a client's subscriptions, or `not_found`.
caf::expected<caf::actor> find_relay(relay_registry& relays,
                                     const std::string& store,
                                     const std::string& subscription) {
  if (auto relay = relays.find({store, subscription}))
    return relay;
  return make_client_error(errc::not_found,
                           "this client has no subscription " + subscription,
                           json{{"what", "subscription"}});
}

} // namespace

caf::expected<void>
client::unsubscribe(const std::string& store,
                    const std::string& subscription) const {
  auto relay = find_relay(*relays_, store, subscription);
  if (!relay)
    return std::move(relay.error());
  auto r = ask<bool>(*sys_, *relay, call_timeout_, "unsubscribe",
                     caf::unsubscribe_atom_v);
  if (!r)
    return std::move(r.error());
  return {};
}

caf::expected<int64_t> client::ack(const std::string& store,
                                   const std::string& subscription,
                                   int64_t position) const {
  auto relay = find_relay(*relays_, store, subscription);
  if (!relay)
    return std::move(relay.error());
  return ask<int64_t>(*sys_, *relay, call_timeout_, "ack_event",
                      actors::ack_atom_v, position);
}

caf::expected<std::vector<subscription_info>>
client::get_subscriptions(const std::string& store) const {
  using vec = std::vector<subscription_info>;
  return convert<vec>("get_subscriptions",
                      call("get_subscriptions", store_params(store)),
                      [](const json& r) {
                        return r.at("subscriptions").get<vec>();
                      });
}

caf::expected<void>
client::remove_subscription(const std::string& store, const std::string& type,
                            const json& selector,
                            const std::string& name) const {
  auto p = store_params(store);
  p["type"] = type;
  p["selector"] = selector;
  p["name"] = name;
  return check_flag("remove_subscription", call("remove_subscription", p),
                    "removed");
}

caf::expected<health_info> client::health() const {
  return convert<health_info>("health", call("health"), [](const json& r) {
    return r.get<health_info>();
  });
}

caf::expected<cluster_status_info> client::cluster_status() const {
  return convert<cluster_status_info>("cluster_status", call("cluster_status"),
                                      [](const json& r) {
                                        return r.get<cluster_status_info>();
                                      });
}

} // namespace cxesdb::gateway
