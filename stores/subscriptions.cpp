#include "stores/subscriptions.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/type_ids.hpp"
#include "stores/messages.hpp"
#include "stores/store_metrics.hpp"

namespace cxesdb::stores {

using namespace cxesdb::actors;

namespace {

// -- emitter --------------------------------------------------------------------

/// One connection (or actor) receiving a subscription's events.
struct subscriber {
  caf::actor handle;
  int64_t max_in_flight = 0;
  /// Transient: events it may still receive (credit from its broker).
  int64_t credit = 0;
  /// Whether it granted credit yet: nothing is sent before, so that the
  /// save_subscription answer reaches the client before the first event.
  bool ready = false;
  /// Persistent: delivered, not yet acknowledged, by position.
  std::map<int64_t, recorded_event> unacked;
};

struct emitter_state {
  std::string store;
  std::string id;
  std::string name; ///< the subscription's name (its id when persistent)
  bool persistent = false;
  subscription_filter filter;
  subscription_limits limits;
  caf::actor writer;
  caf::actor reader;

  /// The next position to examine; -1 until the head is known.
  int64_t cursor = -1;
  /// The last position known to be committed; unknown until the first read.
  int64_t head = -1;
  bool head_known = false;
  bool reading = false;
  /// Matching events waiting for delivery, in position order.
  std::deque<recorded_event> buffer;

  std::vector<subscriber> subs;
  size_t next_sub = 0; ///< round robin among persistent subscribers

  /// Persistent: the checkpoint the store has, and the one being written.
  int64_t durable_checkpoint = -1;
  bool writing_checkpoint = false;
  /// ack_event answers waiting until the checkpoint reaches their target.
  std::vector<std::pair<int64_t, caf::response_promise>> ack_waiters;
  bool stopping = false;

  /// The checkpoint /metrics computes this subscription's lag from
  /// (store_counters::watch); none without counters.
  store_counters::checkpoint watched;
};

using emitter_actor = caf::stateful_actor<emitter_state>;

subscriber* find_sub(emitter_actor* self, const caf::actor& handle) {
  for (auto& s : self->state.subs)
    if (s.handle == handle)
      return &s;
  return nullptr;
}

/// The last position below which every matching event was acknowledged
/// (persistent) or handed out (transient).
int64_t current_checkpoint(emitter_actor* self) {
  auto& st = self->state;
  int64_t lowest = st.cursor < 0 ? st.durable_checkpoint + 1 : st.cursor;
  if (!st.buffer.empty())
    lowest = std::min(lowest, st.buffer.front().position);
  for (auto& s : st.subs)
    if (!s.unacked.empty())
      lowest = std::min(lowest, s.unacked.begin()->first);
  return lowest - 1;
}

void answer_ack_waiters(emitter_actor* self) {
  auto& st = self->state;
  auto keep = st.ack_waiters.begin();
  for (auto& w : st.ack_waiters) {
    if (w.first <= st.durable_checkpoint)
      w.second.deliver(st.durable_checkpoint);
    else
      *keep++ = std::move(w);
  }
  st.ack_waiters.erase(keep, st.ack_waiters.end());
}

void pump(emitter_actor* self);

/// Copies the checkpoint to the subscription's watch for /metrics, once the
/// emitter knows where it stands (a transient one from `current` learns its
/// start from its first read).
void publish_checkpoint(emitter_actor* self) {
  auto& st = self->state;
  if (!st.watched || (!st.persistent && st.cursor < 0))
    return;
  st.watched->store(st.persistent ? st.durable_checkpoint
                                  : current_checkpoint(self),
                    std::memory_order_relaxed);
}

/// Tells every subscriber that the subscription ended, and why.
void drop_all(emitter_actor* self, const std::string& why) {
  auto& st = self->state;
  for (auto& s : st.subs)
    self->send(s.handle, dropped_atom_v, st.store, st.id, why);
  st.subs.clear();
}

/// Persistent: writes the checkpoint when it moved, one write at a time
/// (acks that arrive meanwhile are covered by the next one).
void write_checkpoint(emitter_actor* self) {
  auto& st = self->state;
  if (!st.persistent || st.writing_checkpoint || !st.writer)
    return;
  auto target = current_checkpoint(self);
  if (target <= st.durable_checkpoint) {
    answer_ack_waiters(self);
    if (st.stopping)
      self->quit();
    return;
  }
  st.writing_checkpoint = true;
  self
    ->request(st.writer, caf::infinite, write_atom_v,
              command{checkpoint_cmd{st.name, target}})
    .then(
      [self](command_result& r) {
        auto& st = self->state;
        st.writing_checkpoint = false;
        if (r.code == result_code::ok) {
          st.durable_checkpoint = std::max(st.durable_checkpoint, r.checkpoint);
          publish_checkpoint(self);
        } else if (r.code == result_code::not_found) {
          drop_all(self, "removed");
          self->quit(make_error(errc::not_found, "subscription removed"));
          return;
        }
        write_checkpoint(self);
      },
      [self](caf::error& err) {
        self->state.writing_checkpoint = false;
        for (auto& w : self->state.ack_waiters)
          w.second.deliver(err);
        self->state.ack_waiters.clear();
        if (self->state.stopping)
          self->quit();
      });
}

/// Hands buffered events to subscribers with room for them.
void deliver(emitter_actor* self) {
  auto& st = self->state;
  while (!st.buffer.empty() && !st.subs.empty()) {
    // Pick the next subscriber with room, round robin.
    subscriber* target = nullptr;
    for (size_t i = 0; i < st.subs.size(); ++i) {
      auto& s = st.subs[(st.next_sub + i) % st.subs.size()];
      auto room = st.persistent
                    ? s.max_in_flight - static_cast<int64_t>(s.unacked.size())
                    : s.credit;
      if (s.ready && room > 0) {
        target = &s;
        st.next_sub = (st.next_sub + i + 1) % st.subs.size();
        break;
      }
    }
    if (target == nullptr)
      return;
    auto room = st.persistent ? target->max_in_flight
                                  - static_cast<int64_t>(target->unacked.size())
                              : target->credit;
    // Persistent subscriptions share events one at a time between their
    // consumers; a transient one sends as much as its subscriber takes.
    auto n = std::min<int64_t>(room, static_cast<int64_t>(st.buffer.size()));
    if (st.persistent && st.subs.size() > 1)
      n = 1;
    std::vector<recorded_event> batch;
    batch.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (st.persistent)
        target->unacked.emplace(st.buffer.front().position, st.buffer.front());
      batch.push_back(std::move(st.buffer.front()));
      st.buffer.pop_front();
    }
    if (!st.persistent)
      target->credit -= n;
    self->send(target->handle, event_atom_v, st.store, st.id, std::move(batch));
  }
}

/// Takes matching events from `events` (in position order) from the cursor
/// on. A live batch must reach back to the cursor (else there is a gap, to be
/// read from the store first: returns false); a page read from the cursor
/// covers everything up to its last event, even when it holds one stream's
/// events only.
bool consume(emitter_actor* self, const std::vector<recorded_event>& events,
             bool from_read) {
  auto& st = self->state;
  if (events.empty())
    return true;
  if (!from_read && events.front().position > st.cursor)
    return false;
  for (auto& e : events) {
    if (e.position < st.cursor)
      continue;
    if (st.filter.matches(e))
      st.buffer.push_back(e);
    st.cursor = e.position + 1;
  }
  return true;
}

/// Reads the next page from the store when events are known to be there and
/// the buffer has room. Catch-up and live are the same loop: the cursor only
/// moves over events that were examined, so there is neither a gap nor a
/// duplicate between the two.
void pump(emitter_actor* self) {
  auto& st = self->state;
  deliver(self);
  publish_checkpoint(self);
  if (st.reading || !st.reader || st.stopping)
    return;
  if (st.head_known && st.cursor >= 0 && st.cursor > st.head)
    return; // live: wait for the writer
  if (st.buffer.size() >= st.limits.buffer_max / 2)
    return; // the subscribers are behind: read later
  st.reading = true;
  read_all_query q;
  if (st.cursor < 0) {
    q.from = -1; // learn the head: start after it
    q.count = 1;
    q.backward = true;
  } else {
    q.from = st.cursor;
    q.count = st.limits.page_events;
    q.stream = st.filter.kind() == subscription_filter::by_stream
                 ? st.filter.stream()
                 : std::string{};
  }
  self->request(st.reader, caf::infinite, read_atom_v, query{q})
    .then(
      [self, q](query_result& r) {
        auto& st = self->state;
        st.reading = false;
        if (r.code != result_code::ok) {
          drop_all(self, "unavailable");
          self->quit(make_error(errc::unavailable, r.message));
          return;
        }
        st.head = std::max(st.head, r.head_position);
        st.head_known = true;
        if (st.cursor < 0) {
          st.cursor = r.head_position + 1;
        } else {
          consume(self, r.events, true);
          if (static_cast<int64_t>(r.events.size()) < q.count)
            st.cursor = std::max(st.cursor, r.head_position + 1);
        }
        pump(self);
        if (st.persistent)
          write_checkpoint(self);
      },
      [self](caf::error& err) {
        drop_all(self, "unavailable");
        self->quit(err);
      });
}

/// Puts a leaving subscriber's unacknowledged events back in front, for the
/// others: delivery is at least once.
void requeue(emitter_actor* self, subscriber& s) {
  auto& st = self->state;
  for (auto i = s.unacked.rbegin(); i != s.unacked.rend(); ++i)
    st.buffer.push_front(std::move(i->second));
  std::sort(st.buffer.begin(), st.buffer.end(),
            [](const recorded_event& a, const recorded_event& b) {
              return a.position < b.position;
            });
  s.unacked.clear();
}

void remove_sub(emitter_actor* self, const caf::actor& handle) {
  auto& st = self->state;
  for (auto i = st.subs.begin(); i != st.subs.end(); ++i) {
    if (i->handle == handle) {
      requeue(self, *i);
      st.subs.erase(i);
      break;
    }
  }
  st.next_sub = 0;
  if (st.subs.empty()) {
    // Nobody left: the subscription's state is in the store (persistent)
    // or gone with it (transient).
    st.stopping = true;
    if (!st.writing_checkpoint) {
      if (st.persistent && st.writer)
        write_checkpoint(self);
      else
        self->quit();
    }
    return;
  }
  pump(self);
}

caf::behavior emitter(emitter_actor* self, std::string store, std::string id,
                      subscribe_request req, int64_t checkpoint,
                      caf::actor writer, caf::actor reader,
                      subscription_limits limits,
                      std::shared_ptr<store_counters> counters) {
  auto& st = self->state;
  st.store = std::move(store);
  st.id = std::move(id);
  st.name = req.name;
  st.persistent = req.persistent();
  st.filter = req.filter;
  st.limits = limits;
  st.writer = std::move(writer);
  st.reader = std::move(reader);
  st.durable_checkpoint = checkpoint;
  switch (req.start.kind) {
    case start_from::origin:
      st.cursor = 0;
      break;
    case start_from::position:
      st.cursor = req.start.value;
      break;
    case start_from::current:
      st.cursor = -1;
      break;
  }
  if (st.persistent)
    st.cursor = checkpoint + 1;
  if (counters) {
    st.watched = counters->watch(st.id);
    publish_checkpoint(self);
    self->attach_functor([counters, id = st.id, c = st.watched] {
      counters->unwatch(id, c);
    });
  }
  // Told to stop (the store stops, the subscription was removed): tell the
  // subscribers why, then stop.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    if (msg.reason == caf::exit_reason::normal)
      return;
    std::string why = "store_stopped";
    if (msg.reason.category() == caf::atom("cxesdb"))
      why = static_cast<errc>(msg.reason.code()) == errc::not_found
              ? "removed"
              : "unavailable";
    drop_all(self, why);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](const caf::down_msg& msg) {
    remove_sub(self, caf::actor_cast<caf::actor>(msg.source));
  });
  return {
    // The hub adds a subscriber (a connection, or a C++ client's actor).
    [self](caf::join_atom, caf::actor& who, int64_t max_in_flight) {
      auto& st = self->state;
      st.stopping = false;
      if (find_sub(self, who) == nullptr) {
        self->monitor(who);
        subscriber s;
        s.handle = who;
        s.max_in_flight = max_in_flight;
        st.subs.push_back(std::move(s));
      }
      pump(self);
    },
    // A subscriber is ready, or took events off our hands (transient).
    [self](credit_atom, const std::string&, int64_t n, caf::actor& who) {
      if (auto s = find_sub(self, who)) {
        s->ready = true;
        if (!self->state.persistent)
          s->credit = std::min(s->credit + n, s->max_in_flight);
        pump(self);
      }
    },
    // unsubscribe, or a broker dropping a slow transient subscriber.
    [self](caf::leave_atom, caf::actor& who) -> caf::result<bool> {
      if (find_sub(self, who) == nullptr)
        return make_error(errc::not_found,
                          "not subscribed to " + self->state.id,
                          "subscription");
      self->demonitor(who);
      remove_sub(self, who);
      return true;
    },
    // ack_event: everything this subscriber got up to `position` is done.
    [self](ack_atom, int64_t position,
           caf::actor& who) -> caf::result<int64_t> {
      auto& st = self->state;
      auto s = find_sub(self, who);
      if (s == nullptr)
        return make_error(errc::not_found, "not subscribed to " + st.id, "subscription");
      if (!st.persistent) {
        pump(self);
        return current_checkpoint(self);
      }
      s->unacked.erase(s->unacked.begin(), s->unacked.upper_bound(position));
      pump(self);
      auto target = current_checkpoint(self);
      if (target <= st.durable_checkpoint)
        return st.durable_checkpoint;
      auto rp = self->make_response_promise();
      st.ack_waiters.emplace_back(target, rp);
      write_checkpoint(self);
      return caf::delegated<int64_t>{};
    },
    // The writer committed events (through the hub).
    [self](appended_atom, const event_batch& batch) {
      auto& st = self->state;
      if (batch->empty())
        return;
      st.head = std::max(st.head, batch->back().position);
      if (!st.reading && st.head_known && st.cursor >= 0
          && st.buffer.size() < st.limits.buffer_max)
        consume(self, *batch, false);
      pump(self);
    },
    [self](info_atom) {
      auto& st = self->state;
      subscription_info info;
      info.subscription = st.id;
      info.name = st.name;
      info.type = st.filter.type();
      info.selector = st.filter.selector_text();
      info.persistent = st.persistent;
      info.checkpoint = st.persistent ? st.durable_checkpoint
                                      : current_checkpoint(self);
      info.subscribers = st.subs.size();
      info.lag = std::max<int64_t>(0, st.head - info.checkpoint);
      return info;
    },
  };
}

// -- hub -----------------------------------------------------------------------

struct hub_state {
  subscription_limits limits;
  std::shared_ptr<store_counters> counters;
  caf::actor writer;
  caf::actor reader;
  /// Emitters by subscription id (a persistent subscription's id is its name).
  std::unordered_map<std::string, caf::actor> emitters;
  uint64_t next_transient = 1;

  static inline const char* name = "subscription_hub";
};

using hub_actor = caf::stateful_actor<hub_state>;

caf::actor start_emitter(hub_actor* self, const std::string& id,
                         const subscribe_request& req, int64_t checkpoint) {
  auto& st = self->state;
  auto e = self->spawn(emitter, req.store, id, req, checkpoint, st.writer,
                       st.reader, st.limits, st.counters);
  self->monitor(e);
  st.emitters[id] = e;
  return e;
}

caf::behavior hub(hub_actor* self, subscription_limits limits,
                  std::shared_ptr<store_counters> counters) {
  self->state.limits = limits;
  self->state.counters = std::move(counters);
  // An emitter stopped (no subscribers left, or removed): forget it.
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& em = self->state.emitters;
    for (auto i = em.begin(); i != em.end(); ++i) {
      if (i->second.address() == msg.source) {
        em.erase(i);
        return;
      }
    }
  });
  // Stopped by the supervisor: the emitters stop with the hub and tell
  // their subscribers.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& kv : self->state.emitters)
      self->send_exit(kv.second, msg.reason);
    self->quit(msg.reason);
  });
  return {
    // The store manager tells us the writer and reader after each start.
    [self](wire_atom, caf::actor& writer, caf::actor& reader) {
      self->state.writer = std::move(writer);
      self->state.reader = std::move(reader);
    },
    // save_subscription: start an emitter (transient), or create or find the
    // persistent subscription in the store first, then attach to its
    // emitter.
    [self](caf::subscribe_atom, subscribe_request& req, caf::actor& who)
      -> caf::result<subscribe_reply, caf::actor> {
      auto& st = self->state;
      if (!st.writer || !st.reader)
        return make_error(errc::unavailable, "the store is starting");
      if (st.emitters.size() >= st.limits.subscriptions_max
          && st.emitters.count(req.name) == 0)
        return make_error(errc::overloaded, "too many subscriptions");
      if (!req.persistent()) {
        auto id = "transient-" + std::to_string(st.next_transient++);
        auto e = start_emitter(self, id, req, -1);
        self->send(e, caf::join_atom_v, who, req.max_in_flight);
        subscribe_reply rep;
        rep.subscription = id;
        rep.checkpoint = req.start.kind == start_from::origin
                           ? -1
                           : req.start.kind == start_from::position
                               ? req.start.value - 1
                               : -1;
        rep.max_in_flight = req.max_in_flight;
        return caf::result<subscribe_reply, caf::actor>{rep, e};
      }
      auto rp = self->make_response_promise();
      save_subscription_cmd cmd{req.name, req.filter.type(),
                                req.filter.selector_text(), req.start};
      self->request(st.writer, caf::infinite, write_atom_v, command{cmd})
        .then(
          [self, rp, req, who](command_result& r) mutable {
            auto& st = self->state;
            if (r.code == result_code::already_exists) {
              rp.deliver(make_error(errc::already_exists,
                                    "subscription " + req.name
                                      + " exists with another type or "
                                        "selector"));
              return;
            }
            if (r.code != result_code::ok) {
              rp.deliver(make_error(errc::unavailable, r.message));
              return;
            }
            auto i = st.emitters.find(req.name);
            auto e = i != st.emitters.end()
                       ? i->second
                       : start_emitter(self, req.name, req, r.checkpoint);
            self->send(e, caf::join_atom_v, who, req.max_in_flight);
            subscribe_reply rep;
            rep.subscription = req.name;
            rep.checkpoint = r.checkpoint;
            rep.persistent = true;
            rep.max_in_flight = req.max_in_flight;
            rp.deliver(rep, e);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      return caf::delegated<subscribe_reply, caf::actor>{};
    },
    [self](caf::unsubscribe_atom, std::string& id,
           caf::actor& who) -> caf::result<bool> {
      auto i = self->state.emitters.find(id);
      if (i == self->state.emitters.end())
        return make_error(errc::not_found, "no subscription " + id, "subscription");
      auto rp = self->make_response_promise();
      rp.delegate(i->second, caf::leave_atom_v, who);
      return caf::delegated<bool>{};
    },
    [self](ack_atom, std::string& id, int64_t position,
           caf::actor& who) -> caf::result<int64_t> {
      auto i = self->state.emitters.find(id);
      if (i == self->state.emitters.end())
        return make_error(errc::not_found, "no subscription " + id, "subscription");
      auto rp = self->make_response_promise();
      rp.delegate(i->second, ack_atom_v, position, who);
      return caf::delegated<int64_t>{};
    },
    // remove_subscription: delete it from the store; its emitter stops and
    // tells its subscribers.
    [self](remove_atom, std::string& name, std::string& type,
           std::string& selector) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.writer)
        return make_error(errc::unavailable, "the store is starting");
      auto rp = self->make_response_promise();
      self
        ->request(st.writer, caf::infinite, write_atom_v,
                  command{remove_subscription_cmd{name, type, selector}})
        .then(
          [self, rp, name](command_result& r) mutable {
            if (r.code == result_code::not_found) {
              rp.deliver(make_error(errc::not_found,
                                    "no subscription " + name
                                      + " with that type and selector",
                                    "subscription"));
              return;
            }
            if (r.code != result_code::ok) {
              rp.deliver(make_error(errc::unavailable, r.message));
              return;
            }
            auto i = self->state.emitters.find(name);
            if (i != self->state.emitters.end())
              self->send_exit(i->second,
                              make_error(errc::not_found, "removed"));
            rp.deliver(true);
          },
          [rp](caf::error& err) mutable { rp.deliver(err); });
      return caf::delegated<bool>{};
    },
    // The writer committed a transaction: every emitter hears of it.
    [self](appended_atom, const event_batch& batch) {
      for (auto& kv : self->state.emitters)
        self->send(kv.second, appended_atom_v, batch);
    },
    // get_subscriptions: the persistent ones from the store, with the state
    // of those that have an emitter, and the transient ones.
    [self](list_atom) -> caf::result<std::vector<subscription_info>> {
      auto& st = self->state;
      if (!st.reader)
        return make_error(errc::unavailable, "the store is starting");
      struct gather {
        caf::response_promise rp;
        std::map<std::string, subscription_info> infos;
        size_t pending = 0;
        int64_t head = -1;
        void finish() {
          std::vector<subscription_info> out;
          for (auto& kv : infos) {
            if (kv.second.persistent && kv.second.subscribers == 0)
              kv.second.lag = std::max<int64_t>(0, head - kv.second.checkpoint);
            out.push_back(std::move(kv.second));
          }
          rp.deliver(std::move(out));
        }
      };
      auto g = std::make_shared<gather>();
      g->rp = self->make_response_promise();
      self->request(st.reader, caf::infinite, read_atom_v,
                    query{read_all_query{-1, 1, true, {}}})
        .then(
          [self, g](query_result& head) {
            g->head = head.head_position;
            self
              ->request(self->state.reader, caf::infinite, read_atom_v,
                        query{list_subscriptions_query{}})
              .then(
                [self, g](query_result& r) {
                  for (auto& s : r.subscriptions) {
                    subscription_info i;
                    i.subscription = s.name;
                    i.name = s.name;
                    i.type = s.type;
                    i.selector = s.selector;
                    i.persistent = true;
                    i.checkpoint = s.checkpoint;
                    g->infos[s.name] = i;
                  }
                  g->pending = self->state.emitters.size();
                  if (g->pending == 0) {
                    g->finish();
                    return;
                  }
                  for (auto& kv : self->state.emitters) {
                    self->request(kv.second, caf::infinite, info_atom_v)
                      .then(
                        [g](subscription_info& i) {
                          auto key = i.subscription;
                          g->infos[key] = std::move(i);
                          if (--g->pending == 0)
                            g->finish();
                        },
                        [g](caf::error&) {
                          if (--g->pending == 0)
                            g->finish();
                        });
                  }
                },
                [g](caf::error& err) { g->rp.deliver(err); });
          },
          [g](caf::error& err) { g->rp.deliver(err); });
      return caf::delegated<std::vector<subscription_info>>{};
    },
  };
}

} // namespace

caf::actor spawn_subscription_hub(caf::actor_system& sys,
                                  subscription_limits limits,
                                  std::shared_ptr<store_counters> counters) {
  return sys.spawn(hub, limits, std::move(counters));
}

} // namespace cxesdb::stores
