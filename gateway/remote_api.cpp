#include "gateway/remote_api.hpp"

#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/error.hpp"
#include "caf/exit_reason.hpp"
#include "caf/io/middleman.hpp"
#include "caf/make_message.hpp"
#include "caf/openssl/publish.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"

#include "actors/log.hpp"
#include "actors/type_ids.hpp"
#include "gateway/auth_gate.hpp"
#include "gateway/json_rpc.hpp"
#include "gateway/remote_subscriber.hpp"
#include "stores/errc.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;
using nlohmann::json;
using stores::errc;

namespace {

/// The API actor's full interface: what it publishes (api_actor) plus what
/// only local actors send it. The gateway's workers answer
/// `(reply_atom, response)`; the actor's own timer sends
/// `(deadline_atom, id)`.
using remote_api_impl = api_actor::extend<
  caf::reacts_to<reply_atom, std::string>,
  caf::reacts_to<deadline_atom, uint64_t>>;

/// One calling node's sign-in, while `cfg.auth` is set: the gate that
/// answers its `authenticate` calls and keeps its principal.
struct api_session {
  explicit api_session(std::shared_ptr<const auth_registry> registry)
    : gate(std::move(registry)) {
    // nop
  }
  auth_gate gate;
  caf::actor_clock::time_point last_used;
  /// Refused until then, after auth_gate::failures_max wrong tokens.
  caf::actor_clock::time_point locked_until;
};

struct remote_api_state {
  caf::actor gateway;
  remote_api_config cfg;

  /// The JSON-RPC id of the next call; ids are never reused.
  uint64_t next_id = 1;

  /// Calls sent to the gateway and not answered yet, by JSON-RPC id.
  std::unordered_map<uint64_t, caf::typed_response_promise<std::string>>
    pending;

  /// Sign-ins by calling node (bounded by cfg.sessions_max).
  std::map<caf::node_id, api_session> sessions;

  /// The node's stand-in of each remote subscriber
  /// (gateway/remote_subscriber.hpp), by subscriber.
  std::map<caf::actor, caf::actor> proxies;

  static inline const char* name = "remote_api";
};

using remote_api_actor = remote_api_impl::stateful_pointer<remote_api_state>;

/// A `caf::error` as the API answers it: the reason as code, and as context
/// the human text and the `data` object (with `reason`) as JSON text.
caf::error api_error(errc reason, std::string message,
                     json data = json::object()) {
  data["reason"] = stores::to_reason(reason);
  return caf::error{static_cast<uint8_t>(reason), caf::atom("cxesdb"),
                    caf::make_message(std::move(message), data.dump())};
}

/// Methods that act on the calling connection's subscriptions: over this
/// interface, the subscriber's.
bool connection_bound(const std::string& method) {
  return method == "save_subscription" || method == "unsubscribe"
         || method == "ack_event";
}

/// Turns the gateway's response line into the call's answer.
void answer(caf::typed_response_promise<std::string>& rp, const json& resp) {
  if (auto r = resp.find("result"); r != resp.end()) {
    rp.deliver(r->dump());
    return;
  }
  auto e = resp.find("error");
  if (e == resp.end() || !e->is_object()) {
    rp.deliver(api_error(errc::internal_error,
                         "the gateway answered neither result nor error"));
    return;
  }
  json data = e->value("data", json::object());
  if (!data.is_object())
    data = json::object();
  auto reason = errc::internal_error;
  if (!stores::from_reason(data.value("reason", ""), reason))
    data["reason"] = stores::to_reason(reason);
  std::string message = e->value("message", "");
  rp.deliver(caf::error{static_cast<uint8_t>(reason), caf::atom("cxesdb"),
                        caf::make_message(std::move(message), data.dump())});
}

/// Checks a call before it goes to the gateway: the calls-in-flight limit
/// and the params text (`""` becomes `{}`).
caf::error check_call(remote_api_actor self, std::string& params) {
  auto& st = self->state;
  if (st.pending.size() >= st.cfg.calls_in_flight_max)
    return api_error(errc::overloaded,
                     "more than " + std::to_string(st.cfg.calls_in_flight_max)
                       + " API calls in work; retry later");
  if (params.empty())
    params = "{}";
  if (params.size() > st.cfg.message_bytes_max)
    return api_error(errc::too_large,
                     "params longer than "
                       + std::to_string(st.cfg.message_bytes_max) + " bytes",
                     json{{"limit", st.cfg.message_bytes_max}});
  if (json_depth(params) > rpc_limits::json_depth_max)
    return api_error(errc::too_large,
                     "JSON nested deeper than "
                       + std::to_string(rpc_limits::json_depth_max),
                     json{{"limit", rpc_limits::json_depth_max}});
  if (!json::accept(params))
    return api_error(errc::parse_error, "params are not valid JSON");
  return caf::none;
}

/// The calling node's sign-in, made on its first call; when
/// `sessions_max` are kept, the one unused longest goes first.
api_session& session_of(remote_api_actor self, const caf::node_id& node) {
  auto& st = self->state;
  auto i = st.sessions.find(node);
  if (i == st.sessions.end()) {
    if (st.sessions.size() >= st.cfg.sessions_max) {
      auto oldest = st.sessions.begin();
      for (auto j = st.sessions.begin(); j != st.sessions.end(); ++j)
        if (j->second.last_used < oldest->second.last_used)
          oldest = j;
      st.sessions.erase(oldest);
    }
    i = st.sessions.emplace(node, api_session{st.cfg.auth}).first;
  }
  i->second.last_used = self->clock().now();
  return i->second;
}

/// Sends a checked call to the gateway as one JSON-RPC request whose answer
/// goes to `conn`: the API actor itself, or a subscriber's proxy, which
/// passes it on. The call is answered later, from the reply handler. With
/// authentication on, the calling node's gate sees the request first: it
/// answers `authenticate` itself and gives every other call the node's
/// principal, for the gateway's worker to check.
caf::result<std::string> start_call(remote_api_actor self,
                                    const std::string& method,
                                    const std::string& params,
                                    const caf::actor& conn) {
  auto& st = self->state;
  auto id = st.next_id++;
  std::string line = "{\"jsonrpc\":\"2.0\",\"id\":";
  line += std::to_string(id);
  line += ",\"method\":";
  line += json(method).dump(-1, ' ', false, json::error_handler_t::replace);
  line += ",\"params\":";
  line += params;
  line += '}';
  // Before the promise: making it takes the sender out of the message.
  std::optional<caf::node_id> caller;
  if (auto& sender = self->current_sender())
    caller = sender->node();
  auto rp = self->make_response_promise<std::string>();
  if (!st.cfg.auth) {
    st.pending.emplace(id, rp);
    // A typed actor may not send() to an untyped one; the gateway needs no
    // sender, it answers to the actor the message names.
    caf::anon_send(st.gateway, rpc_atom_v, std::move(line), conn);
  } else {
    if (!caller) {
      rp.deliver(api_error(errc::unauthorized,
                           "an anonymous call cannot authenticate"));
      return rp;
    }
    auto& session = session_of(self, *caller);
    auto now = self->clock().now();
    if (now < session.locked_until) {
      rp.deliver(api_error(errc::unauthorized,
                           std::to_string(auth_gate::failures_max)
                             + " wrong tokens from this client: refused "
                               "for a while"));
      return rp;
    }
    auto out = session.gate.on_line(line);
    if (out.kind != auth_gate::outcome::forward) {
      if (out.kind == auth_gate::outcome::answer_and_close) {
        session.gate = auth_gate{st.cfg.auth};
        session.locked_until = now + st.cfg.auth_lockout;
      }
      answer(rp, json::parse(out.text, nullptr, false));
      return rp;
    }
    st.pending.emplace(id, rp);
    caf::anon_send(st.gateway, rpc_atom_v, std::move(line), conn,
                   session.gate.principal());
  }
  self->delayed_send(self, st.cfg.call_timeout, deadline_atom_v, id);
  return rp;
}

remote_api_impl::behavior_type remote_api(remote_api_actor self,
                                          caf::actor gateway,
                                          remote_api_config cfg) {
  self->state.gateway = std::move(gateway);
  self->state.cfg = std::move(cfg);
  // The API lives as long as the gateway: the node stops it by stopping the
  // gateway. Either way, calls in work get a definite answer instead of
  // waiting for the client's timeout, and the subscribers' proxies stop.
  auto stop = [self](const caf::error& reason) {
    auto& st = self->state;
    for (auto& kv : st.pending)
      kv.second.deliver(api_error(errc::unavailable, "the node is stopping"));
    st.pending.clear();
    for (auto& kv : st.proxies)
      self->send_exit(kv.second, reason);
    st.proxies.clear();
    self->quit(reason);
  };
  self->monitor(self->state.gateway);
  // The gateway stopped, or a subscriber's proxy did (its subscriber went
  // away): forget it.
  self->set_down_handler([self, stop](const caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.gateway.address()) {
      stop(msg.reason);
      return;
    }
    for (auto i = st.proxies.begin(); i != st.proxies.end(); ++i) {
      if (i->second.address() == msg.source) {
        st.proxies.erase(i);
        return;
      }
    }
  });
  self->set_exit_handler([stop](const caf::exit_msg& msg) { stop(msg.reason); });
  return {
    // A remote client (cxesdb::gateway::client, or any CAF node holding an
    // api_actor handle) calls a method. Checks the params text, sends one
    // JSON-RPC request to the gateway pool and answers later, from the
    // reply handler; never waits here.
    [self](call_atom, const std::string& method,
           std::string& params) -> caf::result<std::string> {
      if (connection_bound(method))
        return api_error(errc::method_not_found,
                         method + " needs a subscriber actor over the CAF "
                                  "API (client::subscribe)");
      if (auto err = check_call(self, params))
        return err;
      return start_call(self, method, params,
                        caf::actor_cast<caf::actor>(self));
    },
    // The same call on behalf of a subscriber (a client's relay): its
    // subscription calls go to the gateway with the subscriber's proxy as
    // the connection. save_subscription makes the proxy on first use; a
    // subscriber without one is subscribed to nothing, so its unsubscribe
    // and ack_event go with the API actor as the connection and get the
    // gateway's own not_found.
    [self](call_atom, const std::string& method, std::string& params,
           const caf::actor& subscriber) -> caf::result<std::string> {
      auto& st = self->state;
      if (!subscriber)
        return api_error(errc::invalid_params, "no subscriber actor",
                         json{{"field", "subscriber"}});
      if (auto err = check_call(self, params))
        return err;
      auto conn = caf::actor_cast<caf::actor>(self);
      if (connection_bound(method)) {
        auto i = st.proxies.find(subscriber);
        if (i != st.proxies.end()) {
          conn = i->second;
        } else if (method == "save_subscription") {
          if (st.proxies.size() >= st.cfg.subscribers_max)
            return api_error(errc::overloaded,
                             "more than "
                               + std::to_string(st.cfg.subscribers_max)
                               + " remote subscribers; retry later");
          conn = spawn_remote_subscriber(self->system(), conn, subscriber);
          self->monitor(conn);
          st.proxies.emplace(subscriber, conn);
        }
      }
      return start_call(self, method, params, conn);
    },
    // A gateway worker answers one call (one response object: the API sends
    // no batches and no notifications), directly or through a subscriber's
    // proxy. Answers that come after the call's deadline find no promise
    // and are dropped.
    [self](reply_atom, std::string& response) {
      auto resp = json::parse(response, nullptr, false);
      if (!resp.is_object() || !resp.contains("id")
          || !resp["id"].is_number_unsigned()) {
        log_warning("remote_api: a gateway answer without a call id: "
                    + response.substr(0, 200));
        return;
      }
      auto i = self->state.pending.find(resp["id"].get<uint64_t>());
      if (i == self->state.pending.end())
        return;
      answer(i->second, resp);
      self->state.pending.erase(i);
    },
    // The actor's own timer: the call's deadline passed. A call that is
    // still pending gets `timeout` (its outcome is unknown).
    [self](deadline_atom, uint64_t id) {
      auto i = self->state.pending.find(id);
      if (i == self->state.pending.end())
        return;
      i->second.deliver(api_error(errc::timeout, "no answer in time; the "
                                                 "outcome is unknown"));
      self->state.pending.erase(i);
    },
  };
}

} // namespace

api_actor spawn_remote_api(caf::actor_system& sys, caf::actor gateway,
                           remote_api_config cfg) {
  return sys.spawn(remote_api, std::move(gateway), std::move(cfg));
}

uint16_t start_remote_api(caf::actor_system& sys, caf::actor gateway,
                          const remote_api_config& cfg, api_actor& api,
                          std::string& err) {
  api = spawn_remote_api(sys, std::move(gateway), cfg);
  auto port = cfg.tls ? caf::openssl::publish(api, cfg.port, cfg.bind.c_str(),
                                              true)
                      : sys.middleman().publish(api, cfg.port,
                                                cfg.bind.c_str(), true);
  if (!port) {
    err = sys.render(port.error());
    caf::anon_send_exit(api, caf::exit_reason::user_shutdown);
    api = api_actor{};
    return 0;
  }
  return *port;
}

} // namespace cxesdb::gateway
