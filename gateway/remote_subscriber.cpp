#include "gateway/remote_subscriber.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/type_ids.hpp"
#include "gateway/json_rpc.hpp"
#include "stores/messages.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;

namespace {

/// One subscription of the remote subscriber.
struct remote_subscription {
  caf::actor emitter;
  bool persistent = false;
  int64_t max_in_flight = 0;
  /// Events the subscriber may still be sent: max_in_flight minus those
  /// sent whose credit has not come back.
  int64_t window = 0;
  /// Events (JSON text) waiting for credit, in position order. Transient:
  /// always empty between messages (the emitter has no more credit than the
  /// window). Persistent: at most max_in_flight (the emitter's bound of
  /// unacknowledged events).
  std::deque<std::string> waiting;
};

/// A subscription by store and id (transient ids are unique per store only).
using subscription_key = std::pair<std::string, std::string>;

struct remote_subscriber_state {
  caf::actor api;
  caf::actor subscriber;
  std::map<subscription_key, remote_subscription> subs;

  static inline const char* name = "remote_subscriber";
};

using proxy_actor = caf::stateful_actor<remote_subscriber_state>;

/// Sends what the window allows, as one message.
void flush(proxy_actor* self, const subscription_key& key,
           remote_subscription& sub) {
  auto n = std::min<int64_t>(sub.window,
                             static_cast<int64_t>(sub.waiting.size()));
  if (n == 0)
    return;
  std::vector<std::string> batch;
  batch.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    batch.push_back(std::move(sub.waiting.front()));
    sub.waiting.pop_front();
  }
  sub.window -= n;
  self->send(self->state.subscriber, event_atom_v, key.first, key.second,
             std::move(batch));
}

/// Ends a subscription the proxy gives up on: the emitter forgets the proxy
/// (a persistent subscription's unacknowledged events go to the others),
/// the subscriber hears why.
void drop(proxy_actor* self, const subscription_key& key,
          const std::string& reason) {
  auto& st = self->state;
  auto i = st.subs.find(key);
  CXESDB_ASSERT(i != st.subs.end());
  self->send(i->second.emitter, caf::leave_atom_v,
             caf::actor_cast<caf::actor>(self));
  self->send(st.subscriber, dropped_atom_v, key.first, key.second, reason);
  st.subs.erase(i);
}

caf::behavior remote_subscriber(proxy_actor* self, caf::actor api,
                                caf::actor subscriber) {
  auto& st = self->state;
  st.api = std::move(api);
  st.subscriber = std::move(subscriber);
  self->monitor(st.subscriber);
  // The subscriber went down or its node connection was lost: quitting is
  // the whole cleanup, the emitters monitor the proxy as they monitor a
  // connection.
  self->set_down_handler([self](const caf::down_msg& msg) {
    if (msg.source == self->state.subscriber.address())
      self->quit(msg.reason);
  });
  // The API actor stops (the node stops): the stores may not have told the
  // subscriber yet.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& kv : st.subs)
      self->send(st.subscriber, dropped_atom_v, kv.first.first,
                 kv.first.second, std::string{"store_stopped"});
    st.subs.clear();
    self->quit(msg.reason);
  });
  return {
    // A gateway worker answered a call the API actor made for the
    // subscriber. The answer goes to the API actor, which holds the call.
    [self](reply_atom, std::string& response) {
      self->send(self->state.api, reply_atom_v, std::move(response));
    },
    // A gateway worker answered save_subscription: start delivery by
    // granting the emitter the whole window. A second save_subscription of
    // a subscription the subscriber holds changes nothing (the emitter
    // ignores a second join as well).
    [self](activate_atom, std::string& store, std::string& id,
           caf::actor& emitter, int64_t max_in_flight, bool persistent) {
      CXESDB_ASSERT(max_in_flight > 0);
      auto key = subscription_key{std::move(store), std::move(id)};
      auto& subs = self->state.subs;
      if (subs.count(key) > 0)
        return;
      remote_subscription sub;
      sub.emitter = emitter;
      sub.persistent = persistent;
      sub.max_in_flight = max_in_flight;
      sub.window = max_in_flight;
      subs.emplace(key, std::move(sub));
      self->send(emitter, credit_atom_v, key.second, max_in_flight,
                 caf::actor_cast<caf::actor>(self));
    },
    // unsubscribe was answered: events still on their way are not sent.
    [self](caf::leave_atom, std::string& store, std::string& id) {
      self->state.subs.erase(subscription_key{std::move(store), std::move(id)});
    },
    // An emitter delivers events: into the waiting line, then out as far as
    // the window goes.
    [self](event_atom, std::string& store, std::string& id,
           std::vector<stores::recorded_event>& events) {
      auto key = subscription_key{std::move(store), std::move(id)};
      auto i = self->state.subs.find(key);
      if (i == self->state.subs.end())
        return; // unsubscribed meanwhile
      auto& sub = i->second;
      for (auto& e : events) {
        std::string text;
        append_event_json(text, e);
        sub.waiting.push_back(std::move(text));
      }
      flush(self, key, sub);
      if (!sub.persistent) {
        CXESDB_ASSERT(sub.waiting.empty());
        return;
      }
      if (static_cast<int64_t>(sub.waiting.size()) > sub.max_in_flight)
        drop(self, key, "slow_consumer");
    },
    // The subscriber is done with `n` events: more may go, and a transient
    // emitter gets the credit. `n` comes over the network and is clamped to
    // what is out.
    [self](credit_atom, std::string& store, std::string& id, int64_t n) {
      auto key = subscription_key{std::move(store), std::move(id)};
      auto i = self->state.subs.find(key);
      if (i == self->state.subs.end())
        return;
      auto& sub = i->second;
      n = std::clamp<int64_t>(n, 0, sub.max_in_flight - sub.window);
      if (n == 0)
        return;
      sub.window += n;
      if (!sub.persistent)
        self->send(sub.emitter, credit_atom_v, key.second, n,
                   caf::actor_cast<caf::actor>(self));
      flush(self, key, sub);
    },
    // A subscription ended without being asked to.
    [self](dropped_atom, std::string& store, std::string& id,
           std::string& reason) {
      auto& st = self->state;
      if (st.subs.erase(subscription_key{store, id}) == 0)
        return;
      self->send(st.subscriber, dropped_atom_v, std::move(store),
                 std::move(id), std::move(reason));
    },
  };
}

} // namespace

caf::actor spawn_remote_subscriber(caf::actor_system& sys, caf::actor api,
                                   caf::actor subscriber) {
  return sys.spawn(remote_subscriber, std::move(api), std::move(subscriber));
}

} // namespace cxesdb::gateway
