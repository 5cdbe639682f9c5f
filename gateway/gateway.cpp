#include "gateway/gateway.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

#include "caf/actor_pool.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_execution_unit.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/type_ids.hpp"
#include "gateway/auth.hpp"
#include "gateway/auth_check.hpp"
#include "gateway/request_metrics.hpp"
#include "gateway/uuid.hpp"
#include "stores/local_leaders.hpp"
#include "stores/messages.hpp"
#include "stores/time_format.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;
using nlohmann::json;
using stores::errc;

namespace {

/// Receives a call's response text and, optionally, a message for the
/// connection actor to act on right after it wrote the response (starting
/// or stopping a subscription's delivery).
using done_fn = std::function<void(std::string, caf::message)>;

struct worker_state {
  caf::actor manager;
  gateway_config cfg;
  std::unique_ptr<uuid_generator> uuids;
  /// scavenge_store calls waiting out the throttle's pause before their
  /// next step, by the id of their `(tick_atom, id)` timer.
  std::unordered_map<uint64_t, std::function<void()>> paused;
  uint64_t next_pause = 0;

  static inline const char* name = "gateway_worker";
};

using worker_actor = caf::stateful_actor<worker_state>;

/// Counts an error answer for /metrics (gateway/request_metrics.hpp).
void count_error(worker_actor* self, const rpc_error& e) {
  if (auto& m = self->state.cfg.metrics)
    m->count_error(e.reason);
}

/// Maps an error from the store actors to the protocol. `write` says whether
/// the call may have changed the store: then a lost answer means the outcome
/// is unknown (timeout), not that it is safe to retry (unavailable).
rpc_error from_caf(const caf::error& err, bool write) {
  if (err.category() == caf::atom("cxesdb")) {
    auto reason = static_cast<errc>(err.code());
    std::string text = stores::to_reason(reason);
    std::string what = "store";
    if (err.context().match_elements<std::string>()) {
      text = err.context().get_as<std::string>(0);
    } else if (err.context().match_elements<std::string, std::string>()) {
      text = err.context().get_as<std::string>(0);
      what = err.context().get_as<std::string>(1);
    }
    auto e = make_rpc_error(reason, std::move(text));
    if (reason == errc::not_found)
      e.data["what"] = what;
    if (reason == errc::invalid_params)
      e.data["field"] = "store";
    return e;
  }
  if (err == caf::sec::request_timeout)
    return make_rpc_error(errc::timeout, "no answer in time; the outcome is "
                                         "unknown");
  if (write)
    return make_rpc_error(errc::timeout, "the store stopped before it "
                                         "answered; the outcome is unknown");
  return make_rpc_error(errc::unavailable, "the store is not available");
}

/// Whether a local replica turned a request away without acting on it (it
/// is not the leader, or it is stopping, or it had stopped and CAF bounced
/// the request unread): the router takes it from there, as it does when one
/// of its own attempts is turned away.
bool turned_away(const caf::error& err) {
  if (err == caf::sec::request_receiver_down)
    return true;
  if (err.category() != caf::atom("cxesdb"))
    return false;
  auto reason = static_cast<errc>(err.code());
  return reason == errc::not_leader || reason == errc::unavailable;
}

json store_info_json(const stores::store_info& info) {
  return json{{"status", stores::to_string(info.status)},
              {"config", config_json(info.config)}};
}

/// Runs a subscription call: through the store manager to the store's hub.
/// The connection actor (`conn`) is the subscriber.
void dispatch_subscription(worker_actor* self, parsed_call& call,
                           const caf::actor& conn,
                           std::function<void(const std::string&,
                                              caf::message)> ok,
                           std::function<void(const caf::error&)> on_error) {
  auto& st = self->state;
  auto timeout = st.cfg.request_timeout;
  auto store = call.store;
  switch (call.m) {
    case method::save_subscription:
      self
        ->request(st.manager, timeout, caf::subscribe_atom_v, store,
                  call.subscribe, conn)
        .then(
          [ok, store](stores::subscribe_reply& rep, caf::actor& emitter) {
            ok(json{{"subscription", rep.subscription},
                    {"checkpoint", rep.checkpoint}}
                 .dump(),
               caf::make_message(activate_atom_v, store, rep.subscription,
                                 emitter, rep.max_in_flight, rep.persistent));
          },
          on_error);
      return;
    case method::unsubscribe: {
      auto sub = call.subscription;
      self
        ->request(st.manager, timeout, caf::unsubscribe_atom_v, store, sub,
                  conn)
        .then(
          [ok, store, sub](bool) {
            ok("{\"unsubscribed\":true}",
               caf::make_message(caf::leave_atom_v, store, sub));
          },
          on_error);
      return;
    }
    case method::ack_event:
      self
        ->request(st.manager, timeout, ack_atom_v, store, call.subscription,
                  call.position, conn)
        .then(
          [ok](int64_t checkpoint) {
            ok(json{{"checkpoint", checkpoint}}.dump(), caf::message{});
          },
          on_error);
      return;
    case method::remove_subscription:
      self
        ->request(st.manager, timeout, remove_atom_v, store, call.subscription,
                  call.sub_type, call.sub_selector)
        .then([ok](bool) { ok("{\"removed\":true}", caf::message{}); },
              on_error);
      return;
    case method::get_subscriptions:
      self->request(st.manager, timeout, list_atom_v, store)
        .then(
          [ok](std::vector<stores::subscription_info>& infos) {
            ok(format_subscriptions(infos), caf::message{});
          },
          on_error);
      return;
    default:
      return;
  }
}

/// What one scavenge_store call removed so far.
struct scavenge_totals {
  int64_t removed = 0;
  int64_t reclaimed_bytes = 0;
};

/// Runs a scavenge of `store` as a series of small scavenge_cmd steps
/// through the store's log (the first one also expires events by max_age_s),
/// one after the other and paced by `cfg.scavenge`, so that appends
/// interleave with them; answers the totals once a step finds nothing left
/// to do. Sent by `dispatch`; it never holds more than one step in flight.
void scavenge_steps(worker_actor* self, std::string store, stores::command cmd,
                    std::shared_ptr<scavenge_totals> totals,
                    std::function<void(const std::string&)> ok,
                    std::function<void(const rpc_error&)> fail,
                    std::function<void(const caf::error&)> on_error) {
  auto sent = self->clock().now();
  self
    ->request(self->state.manager, caf::infinite, write_atom_v, store, cmd)
    .then(
      [=](stores::command_result& r) mutable {
        if (r.code != stores::result_code::ok) {
          fail(make_rpc_error(errc::unavailable,
                              "the scavenge stopped: " + r.message));
          return;
        }
        totals->removed += r.removed;
        totals->reclaimed_bytes += r.reclaimed_bytes;
        if (!r.more && r.reclaimed_bytes == 0) {
          ok(json{{"removed_events", totals->removed},
                  {"reclaimed_bytes", totals->reclaimed_bytes}}
               .dump());
          return;
        }
        std::get<stores::scavenge_cmd>(cmd).expire = false;
        auto next = [=]() mutable {
          scavenge_steps(self, std::move(store), std::move(cmd),
                         std::move(totals), std::move(ok), std::move(fail),
                         std::move(on_error));
        };
        auto pause = self->state.cfg.scavenge.pause_after(
          std::chrono::duration_cast<std::chrono::microseconds>(
            self->clock().now() - sent));
        if (pause.count() == 0) {
          next();
          return;
        }
        auto id = ++self->state.next_pause;
        self->state.paused.emplace(id, std::move(next));
        self->delayed_send(self, pause, tick_atom_v, id);
      },
      on_error);
}

/// Runs one parsed call and hands its response text to `done`.
void dispatch(worker_actor* self, parsed_call call, std::string id_text,
              const caf::actor& conn, done_fn done) {
  auto& st = self->state;
  auto timeout = st.cfg.request_timeout;
  auto ok = [id_text, done](const std::string& result) {
    done(response(id_text, result), caf::message{});
  };
  auto fail = [self, id_text, done](const rpc_error& e) {
    count_error(self, e);
    done(error_response(id_text, e), caf::message{});
  };
  auto on_error = [fail, m = call.m](const caf::error& err) {
    auto e = from_caf(err, is_write(m) || m == method::create_store
                             || m == method::remove_store
                             || m == method::restore_store);
    if (e.reason == errc::too_large
        && err.context().match_elements<std::string, std::string>())
      e.data["limit"] = std::stoll(err.context().get_as<std::string>(1));
    fail(e);
  };
  if (is_subscription(call.m)) {
    dispatch_subscription(
      self, call, conn,
      [id_text, done](const std::string& result, caf::message after) {
        done(response(id_text, result), std::move(after));
      },
      on_error);
    return;
  }
  auto store = call.store;
  switch (call.m) {
    case method::health:
      ok(json{{"status", "ok"}, {"node", st.cfg.node_name}}.dump());
      return;
    case method::cluster_status:
      self->request(st.manager, timeout, cluster_atom_v)
        .then([ok](std::string& text) { ok(text); }, on_error);
      return;
    case method::leave_cluster:
      self->request(st.manager, timeout, caf::leave_atom_v, call.node)
        .then([ok](bool) { ok("{\"left\":true}"); }, on_error);
      return;
    case method::list_stores:
      self->request(st.manager, timeout, list_atom_v)
        .then(
          [ok](std::vector<stores::store_info>& infos) {
            json stores_j = json::object();
            for (auto& i : infos)
              stores_j[i.config.id] = store_info_json(i);
            ok(json{{"stores", std::move(stores_j)}}.dump());
          },
          on_error);
      return;
    case method::create_store:
      self->request(st.manager, timeout, create_atom_v, std::move(call.config))
        .then(
          [self, ok, fail, on_error](stores::store_info& info) {
            auto answer = json{{"store", info.config.id},
                               {"status", stores::to_string(info.status)},
                               {"config", config_json(info.config)}}
                            .dump();
            auto& cfg = info.config;
            if (cfg.retention_max_count == 0 && cfg.retention_max_age_s == 0) {
              ok(answer);
              return;
            }
            // The cleanup policy: the store's defaults, the metadata of the
            // stream "" (no client can name it), set through its log.
            stores::command cmd = stores::set_stream_metadata_cmd{
              "",
              stores::stream_metadata{cfg.retention_max_count,
                                      cfg.retention_max_age_s, "null"},
              stores::now_epoch_us()};
            self
              ->request(self->state.manager, caf::infinite, write_atom_v,
                        cfg.id, std::move(cmd))
              .then(
                [ok, fail, answer](stores::command_result& r) {
                  if (r.code == stores::result_code::ok)
                    ok(answer);
                  else
                    fail(make_rpc_error(errc::unavailable,
                                        "the store was created, but its "
                                        "retention was not set: "
                                          + r.message));
                },
                on_error);
          },
          on_error);
      return;
    case method::scavenge_store:
      scavenge_steps(self, store, call.cmd,
                     std::make_shared<scavenge_totals>(), ok, fail, on_error);
      return;
    // Backups (section 10) take as long as the copy of a store: no timer;
    // the store manager always answers (its IO job reports, a restore
    // answers like create_store).
    case method::backup_store:
      self->request(st.manager, caf::infinite, backup_atom_v, store, call.backup)
        .then([ok](std::string& text) { ok(text); }, on_error);
      return;
    case method::list_backups:
      self->request(st.manager, timeout, backup_atom_v, list_atom_v)
        .then([ok](std::string& text) { ok(text); }, on_error);
      return;
    case method::restore_store:
      self
        ->request(st.manager, caf::infinite, restore_atom_v, store,
                  call.backup)
        .then(
          [ok](stores::store_info& info) {
            ok(json{{"store", info.config.id},
                    {"status", stores::to_string(info.status)},
                    {"config", config_json(info.config)}}
                 .dump());
          },
          [fail, on_error](const caf::error& err) {
            if (err.category() == caf::atom("cxesdb")
                && static_cast<errc>(err.code()) == errc::not_found) {
              auto e = from_caf(err, false);
              e.data["what"] = "backup";
              fail(e);
              return;
            }
            on_error(err);
          });
      return;
    case method::remove_store:
      self->request(st.manager, timeout, remove_atom_v, store)
        .then([ok](bool) { ok("{\"removed\":true}"); }, on_error);
      return;
    case method::get_store_status:
      self->request(st.manager, timeout, info_atom_v, store)
        .then([ok](std::string& status) { ok(status); }, on_error);
      return;
    case method::get_store_config:
      self->request(st.manager, timeout, caf::get_atom_v, store)
        .then(
          [ok](stores::store_info& info) {
            ok(json{{"config", config_json(info.config)}}.dump());
          },
          on_error);
      return;
    default:
      break;
  }
  // Writes and reads go straight to the store's leader replica when it is
  // on this node, else through the manager's router. Either answers by the
  // store's timeout (less a margin), whatever happens (the router watches
  // its attempts, a writer its pending writes), so these requests need no
  // timer of their own (a CAF request timeout costs two trips through the
  // clock thread per request).
  auto shared = std::make_shared<parsed_call>(std::move(call));
  auto leader = st.cfg.leaders ? st.cfg.leaders->find(store) : caf::actor{};
  if (is_write(shared->m)) {
    auto on_result = [ok, fail, shared](stores::command_result& r) {
      auto out = format_write(*shared, r);
      if (auto text = std::get_if<std::string>(&out))
        ok(*text);
      else
        fail(std::get<rpc_error>(out));
    };
    auto routed = [self, store, shared, on_result, on_error] {
      self
        ->request(self->state.manager, caf::infinite, write_atom_v, store,
                  shared->cmd)
        .then(on_result, on_error);
    };
    if (!leader) {
      routed();
      return;
    }
    self->request(leader, caf::infinite, write_atom_v, shared->cmd)
      .then(on_result, [routed, on_error](const caf::error& err) {
        if (turned_away(err))
          routed();
        else
          on_error(err);
      });
    return;
  }
  auto on_result = [ok, fail, shared](stores::query_result& r) {
    auto out = format_read(*shared, r);
    if (auto text = std::get_if<std::string>(&out))
      ok(*text);
    else
      fail(std::get<rpc_error>(out));
  };
  auto routed = [self, store, shared, on_result, on_error] {
    self
      ->request(self->state.manager, caf::infinite, read_atom_v, store,
                shared->q)
      .then(on_result, on_error);
  };
  if (!leader) {
    routed();
    return;
  }
  self->request(leader, caf::infinite, read_atom_v, shared->q)
    .then(on_result, [routed, on_error](const caf::error& err) {
      if (turned_away(err))
        routed();
      else
        on_error(err);
    });
}

/// Handles one request object. Notifications (no id) get an empty response.
/// `principal` is the token digest of the connection's user (empty: not
/// authenticated); null for the node's own callers (the API actor), which
/// are not checked.
void handle_request(worker_actor* self, const json& req, const caf::actor& conn,
                    done_fn done, const std::string* principal,
                    const std::vector<raw_event_text>* raw_events = nullptr) {
  auto& st = self->state;
  if (!req.is_object()) {
    auto e = make_rpc_error(errc::invalid_request,
                            "a request must be an object");
    count_error(self, e);
    done(error_response("null", e), caf::message{});
    return;
  }
  auto id = req.find("id");
  bool notification = id == req.end();
  std::string id_text = "null";
  if (!notification) {
    if (!id->is_string() && !id->is_number() && !id->is_null()) {
      auto e = make_rpc_error(errc::invalid_request,
                              "id must be a number or a string");
      count_error(self, e);
      done(error_response("null", e), caf::message{});
      return;
    }
    id_text = id->dump();
  }
  auto reply_error = [&](const rpc_error& e) {
    count_error(self, e);
    done(notification ? std::string{} : error_response(id_text, e),
         caf::message{});
  };
  auto v = req.find("jsonrpc");
  auto m = req.find("method");
  if (v == req.end() || *v != "2.0" || m == req.end() || !m->is_string()) {
    reply_error(make_rpc_error(errc::invalid_request,
                               "a request needs \"jsonrpc\":\"2.0\" and a "
                               "method name"));
    return;
  }
  // -- security (gateway/auth.hpp): authentication before anything else --
  const auth_user* user = nullptr;
  std::shared_ptr<const auth_table> users;
  if (auto e = check_authenticated(st.cfg.auth.get(), principal,
                                   m->get_ref<const std::string&>(), users,
                                   user)) {
    reply_error(*e);
    return;
  }
  if (m->get_ref<const std::string&>() == "authenticate") {
    // Authentication is off (else check_authenticated answered).
    done(notification ? std::string{}
                      : response(id_text, open_authenticate_result()),
         caf::message{});
    return;
  }
  // -- end security --
  method which;
  if (!find_method(m->get<std::string>(), which)) {
    reply_error(make_rpc_error(errc::method_not_found,
                               "unknown method " + m->get<std::string>()));
    return;
  }
  // From here on the request has a method: its answer, error or not, is
  // counted with its duration (measured from here: the JSON is parsed).
  if (auto metrics = st.cfg.metrics) {
    done = [done, metrics, which, started = std::chrono::steady_clock::now()](
             std::string resp, caf::message after) {
      metrics->observe(which, std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - started)
                                .count());
      done(std::move(resp), std::move(after));
    };
  }
  static const json empty = json::object();
  auto p = req.find("params");
  const json& params = p == req.end() || p->is_null() ? empty : *p;
  parse_context ctx{&st.cfg.limits, &st.cfg.default_store, st.uuids.get(),
                    stores::now_epoch_us(), raw_events};
  ctx.store_templates = st.cfg.store_templates.get();
  auto parsed = parse_call(which, params, ctx);
  if (auto err = std::get_if<rpc_error>(&parsed)) {
    reply_error(*err);
    return;
  }
  // -- security (gateway/auth.hpp): the user's rights on the call's store --
  if (auto e = check_rights(user, m->get_ref<const std::string&>(),
                            std::get<parsed_call>(parsed).store,
                            params.contains("store"))) {
    reply_error(*e);
    return;
  }
  // -- end security --
  if (notification)
    done = [done](std::string, caf::message after) {
      done(std::string{}, std::move(after));
    };
  dispatch(self, std::move(std::get<parsed_call>(parsed)), id_text, conn,
           std::move(done));
}

/// The answers of a batch, sent as one array once all are in.
struct batch_state {
  caf::actor reply_to;
  std::vector<std::string> parts;
  std::vector<caf::message> after;
  size_t remaining = 0;
};

/// Sends a response and then what the connection must do after writing it.
void send_reply(worker_actor* self, const caf::actor& to, std::string resp,
                caf::message after) {
  self->send(to, reply_atom_v, std::move(resp));
  if (!after.empty())
    self->send(to, std::move(after));
}

/// Answers a message refused as a whole (it has no request id to answer
/// with: `null`), counting the error.
void refuse_message(worker_actor* self, const caf::actor& reply_to,
                    const rpc_error& e) {
  count_error(self, e);
  self->send(reply_to, reply_atom_v, error_response("null", e));
}

/// One complete message of a connection (`reply_to` is the connection's
/// actor), or one call of the API actor: parses it and starts every call in
/// it; never blocks and never waits for a store. `principal`: see
/// handle_request.
void on_message(worker_actor* self, std::string& line,
                const caf::actor& reply_to, const std::string* principal) {
  auto& st = self->state;
  if (json_depth(line) > rpc_limits::json_depth_max) {
    auto e = make_rpc_error(errc::too_large,
                            "JSON nested deeper than "
                              + std::to_string(rpc_limits::json_depth_max));
    e.data["limit"] = rpc_limits::json_depth_max;
    refuse_message(self, reply_to, e);
    return;
  }
  // An append's event data stays out of the DOM and is stored as
  // received (json_slim.hpp); anything else is parsed as it is.
  std::string slim;
  std::vector<raw_event_text> raw;
  bool slimmed = slim_append(line, slim, raw);
  auto j = json::parse(slimmed ? slim : line, nullptr, false);
  if (j.is_discarded()) {
    refuse_message(self, reply_to,
                   make_rpc_error(errc::parse_error, "invalid JSON"));
    return;
  }
  if (!j.is_array()) {
    handle_request(
      self, j, reply_to,
      [self, reply_to](std::string resp, caf::message after) {
        send_reply(self, reply_to, std::move(resp), std::move(after));
      },
      principal, slimmed ? &raw : nullptr);
    return;
  }
  if (j.empty()) {
    refuse_message(self, reply_to,
                   make_rpc_error(errc::invalid_request, "an empty batch"));
    return;
  }
  if (j.size() > st.cfg.limits.batch_requests_max) {
    auto e = make_rpc_error(errc::too_large,
                            "a batch holds at most "
                              + std::to_string(
                                st.cfg.limits.batch_requests_max)
                              + " requests");
    e.data["limit"] = st.cfg.limits.batch_requests_max;
    refuse_message(self, reply_to, e);
    return;
  }
  auto batch = std::make_shared<batch_state>();
  batch->reply_to = reply_to;
  batch->parts.resize(j.size());
  batch->remaining = j.size();
  for (size_t i = 0; i < j.size(); ++i) {
    handle_request(self, j[i], reply_to,
                   [self, batch, i](std::string resp, caf::message after) {
      batch->parts[i] = std::move(resp);
      if (!after.empty())
        batch->after.push_back(std::move(after));
      if (--batch->remaining > 0)
        return;
      std::string out;
      for (auto& part : batch->parts) {
        if (part.empty())
          continue;
        out += out.empty() ? '[' : ',';
        out += part;
      }
      if (!out.empty())
        out += ']';
      self->send(batch->reply_to, reply_atom_v, std::move(out));
      for (auto& msg : batch->after)
        self->send(batch->reply_to, std::move(msg));
    }, principal);
  }
}

caf::behavior worker(worker_actor* self, caf::actor manager,
                     gateway_config cfg, uint64_t seed) {
  self->state.manager = std::move(manager);
  self->state.cfg = std::move(cfg);
  self->state.uuids = std::make_unique<uuid_generator>(seed);
  return {
    // The API actor hands over one call (its callers are the node's own:
    // not checked).
    [self](rpc_atom, std::string& line, caf::actor& reply_to) {
      on_message(self, line, reply_to, nullptr);
    },
    // The client port's IO thread hands over one complete message of a
    // connection with the connection's principal (gateway/auth_gate.hpp).
    [self](rpc_atom, std::string& line, caf::actor& reply_to,
           std::string& principal) {
      on_message(self, line, reply_to, &principal);
    },
    // Its own timer (scavenge_steps): a scavenge_store call's pause passed.
    [self](tick_atom, uint64_t id) {
      auto i = self->state.paused.find(id);
      if (i == self->state.paused.end())
        return;
      auto next = std::move(i->second);
      self->state.paused.erase(i);
      next();
    },
  };
}

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, caf::actor store_manager,
                         gateway_config cfg) {
  caf::scoped_execution_unit ctx{&sys};
  auto n = cfg.workers;
  auto seed = cfg.seed;
  auto factory = [&sys, store_manager, cfg, seed, i = uint64_t{0}]() mutable {
    return sys.spawn(worker, store_manager, cfg, seed + (++i) * 0x9e3779b97f4a7c15ull);
  };
  return caf::actor_pool::make(&ctx, n, factory, caf::actor_pool::round_robin());
}

} // namespace cxesdb::gateway
