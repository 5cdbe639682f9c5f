#include "gateway/relay.hpp"

#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_response_promise.hpp"

#include "actors/assert.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;
using nlohmann::json;

// -- registry -------------------------------------------------------------------

caf::actor relay_registry::find(const key& k) {
  std::lock_guard<std::mutex> guard{mx_};
  auto i = relays_.find(k);
  return i == relays_.end() ? caf::actor{} : i->second;
}

bool relay_registry::put(const key& k, const caf::actor& relay) {
  std::lock_guard<std::mutex> guard{mx_};
  auto i = relays_.emplace(k, relay).first;
  return i->second == relay;
}

void relay_registry::erase(const caf::actor_addr& addr) {
  std::lock_guard<std::mutex> guard{mx_};
  for (auto i = relays_.begin(); i != relays_.end();) {
    if (i->second.address() == addr)
      i = relays_.erase(i);
    else
      ++i;
  }
}

// -- relay ----------------------------------------------------------------------

namespace {

struct relay_state {
  relay_args args;
  /// The subscription's id; empty until save_subscription answered.
  std::string id;
  /// The store as the node names it (the node's default store by its id),
  /// for credit; known with the first events.
  std::string node_store;
  /// The node's proxy, the sender of the events; known with the first
  /// events.
  caf::actor proxy;
  /// Events that came before the save_subscription answer: at most
  /// max_in_flight (the proxy's window).
  std::vector<std::vector<std::string>> early;
  /// Events sent to the receiver and not answered yet.
  int64_t unanswered = 0;
  /// Answered events whose credit has not gone back to the proxy yet.
  int64_t answered = 0;

  static inline const char* name = "cxesdb_relay";
};

using relay_actor = caf::stateful_actor<relay_state>;

/// The receiver answered one event: return credit once at least half of
/// what it holds is answered (so credit flows back in batches under load,
/// and at once when it keeps up).
void on_answer(relay_actor* self) {
  auto& st = self->state;
  CXESDB_ASSERT(st.unanswered > 0 && st.proxy);
  --st.unanswered;
  ++st.answered;
  if (st.answered < st.unanswered)
    return;
  self->send(st.proxy, credit_atom_v, st.node_store, st.id, st.answered);
  st.answered = 0;
}

/// Sends each event to the receiver as a request, with the store as the
/// client named it (the name `client::ack` takes).
void deliver(relay_actor* self, std::vector<std::string>& events) {
  auto& st = self->state;
  for (auto& e : events) {
    ++st.unanswered;
    self->request(st.args.receiver, caf::infinite, event_atom_v,
                  st.args.store, st.id, std::move(e))
      .then([self] { on_answer(self); },
            [self](caf::error&) { on_answer(self); });
  }
}

/// The params of a call on this subscription.
std::string subscription_params(relay_actor* self, json extra = {}) {
  json p = json::object();
  if (!self->state.args.store.empty())
    p["store"] = self->state.args.store;
  p["subscription"] = self->state.id;
  if (extra.is_object())
    p.update(extra);
  return p.dump();
}

/// Stops the relay, telling a subscribed receiver `why` unless it is empty.
/// The registry forgets the relay first, so that the client no longer
/// finds it once the receiver heard of the end.
void stop(relay_actor* self, const std::string& why,
          const caf::error& reason = caf::none) {
  auto& st = self->state;
  st.args.registry->erase(self->address());
  if (!why.empty() && !st.id.empty())
    self->send(st.args.receiver, dropped_atom_v, st.args.store, st.id, why);
  self->quit(reason);
}

/// Stops a relay whose save_subscription failed; the client's subscribe
/// call returns `err` once the registry forgot the relay.
void fail(relay_actor* self, caf::error err) {
  self->state.args.registry->erase(self->address());
  self->state.args.done(std::move(err));
  self->quit();
}

caf::error not_subscribed() {
  return make_client_error(errc::not_found, "the relay has no subscription",
                           json{{"what", "subscription"}});
}

caf::behavior relay(relay_actor* self, relay_args args) {
  auto& st = self->state;
  st.args = std::move(args);
  auto me = caf::actor_cast<caf::actor>(self);
  // However the relay ends, the client's subscribe call gets its answer
  // and the registry forgets the relay.
  self->attach_functor([done = st.args.done, registry = st.args.registry,
                        addr = self->address()] {
    registry->erase(addr);
    done(make_client_error(errc::unavailable,
                           "the subscription ended before it started"));
  });
  if (!st.args.claim.empty()
      && !st.args.registry->put({st.args.store, st.args.claim}, me)) {
    fail(self, make_client_error(errc::already_exists,
                                 "this client already receives subscription "
                                   + st.args.claim));
    return {};
  }
  self->monitor(st.args.receiver);
  self->monitor(st.args.api);
  // The receiver went away: so does the subscription (the node's proxy
  // monitors the relay). The node or the connection went away: tell the
  // receiver.
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto receiver_left = msg.source == self->state.args.receiver.address();
    stop(self, receiver_left ? "" : "unavailable", msg.reason);
  });
  self
    ->request(st.args.api, st.args.call_timeout, call_atom_v,
              std::string{"save_subscription"}, st.args.params, me)
    .then(
      [self](std::string& text) {
        auto& st = self->state;
        subscribe_result r;
        try {
          r = json::parse(text).get<subscribe_result>();
        } catch (const json::exception& ex) {
          fail(self, make_client_error(errc::internal_error,
                                       std::string{"unexpected result of "
                                                   "save_subscription: "}
                                         + ex.what()));
          return;
        }
        st.id = r.subscription;
        st.args.registry->put({st.args.store, st.id},
                              caf::actor_cast<caf::actor>(self));
        st.args.done(std::move(r));
        for (auto& batch : st.early)
          deliver(self, batch);
        st.early.clear();
      },
      [self](caf::error& err) { fail(self, std::move(err)); });
  return {
    // The node's proxy sends events: on to the receiver, or held until
    // save_subscription answered.
    [self](event_atom, std::string& store, const std::string&,
           std::vector<std::string>& events) {
      auto& st = self->state;
      if (!st.proxy) {
        st.proxy = caf::actor_cast<caf::actor>(self->current_sender());
        st.node_store = std::move(store);
        self->monitor(st.proxy);
      }
      if (st.id.empty())
        st.early.push_back(std::move(events));
      else
        deliver(self, events);
    },
    // The subscription ended unasked: the receiver hears why.
    [self](dropped_atom, const std::string&, const std::string&,
           const std::string& reason) { stop(self, reason); },
    // ack_event, from the client or from the receiver.
    [self](ack_atom, int64_t position) -> caf::result<int64_t> {
      auto& st = self->state;
      if (st.id.empty())
        return not_subscribed();
      auto rp = self->make_response_promise<int64_t>();
      self
        ->request(st.args.api, st.args.call_timeout, call_atom_v,
                  std::string{"ack_event"},
                  subscription_params(self, json{{"position", position}}),
                  caf::actor_cast<caf::actor>(self))
        .then(
          [rp](std::string& text) mutable {
            auto j = json::parse(text, nullptr, false);
            if (!j.is_object() || !j.contains("checkpoint")
                || !j["checkpoint"].is_number_integer())
              rp.deliver(make_client_error(errc::internal_error,
                                           "unexpected result of ack_event: "
                                             + text.substr(0, 300)));
            else
              rp.deliver(j["checkpoint"].get<int64_t>());
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    // unsubscribe, from the client or from the receiver: the relay stops
    // once the node answered.
    [self](caf::unsubscribe_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (st.id.empty())
        return not_subscribed();
      auto rp = self->make_response_promise<bool>();
      self
        ->request(st.args.api, st.args.call_timeout, call_atom_v,
                  std::string{"unsubscribe"}, subscription_params(self),
                  caf::actor_cast<caf::actor>(self))
        .then(
          [self, rp](std::string&) mutable {
            self->state.args.registry->erase(self->address());
            rp.deliver(true);
            self->quit();
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_relay(caf::actor_system& sys, relay_args args) {
  return sys.spawn(relay, std::move(args));
}

} // namespace cxesdb::gateway
