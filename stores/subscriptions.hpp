#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/fwd.hpp"

#include "stores/subscription_filter.hpp"
#include "stores/types.hpp"

namespace cxesdb::stores {

struct store_counters;

/// The events a transaction appended, in position order, shared by every
/// emitter that receives them.
using event_batch = std::shared_ptr<const std::vector<recorded_event>>;

/// The bounds of a store's subscriptions.
struct subscription_limits {
  /// Matching events an emitter holds for delivery; beyond it, it stops
  /// taking live events and reads them from the store later (memory stays
  /// bounded however slow a subscriber is).
  size_t buffer_max = 1024;

  /// Events per catch-up read.
  int64_t page_events = 256;

  /// Most unacknowledged events per subscriber (save_subscription's
  /// max_in_flight may ask for less; this is also its default).
  int64_t max_in_flight_default = 256;
  static constexpr int64_t max_in_flight_max = 10000;

  /// Subscriptions per store.
  size_t subscriptions_max = 10000;
};

/// A save_subscription call, checked by the gateway.
struct subscribe_request {
  std::string store;
  std::string name = "transient"; ///< "transient" or a persistent name
  subscription_filter filter;
  start_from start;
  int64_t max_in_flight = 256;

  bool persistent() const {
    return name != "transient";
  }
};

/// What save_subscription answers, and where the events come from.
struct subscribe_reply {
  std::string subscription; ///< the id to unsubscribe and ack with
  int64_t checkpoint = -1;
  bool persistent = false;
  int64_t max_in_flight = 0;
};

/// One subscription as get_subscriptions reports it.
struct subscription_info {
  std::string subscription;
  std::string name;
  std::string type;
  std::string selector; ///< JSON text
  bool persistent = false;
  int64_t checkpoint = -1;
  size_t subscribers = 0;
  int64_t lag = 0; ///< events between the checkpoint and the store's head
};

/// Spawns a store's subscription hub: the actor that owns the store's
/// emitters (one per active subscription, linked to the hub), creates
/// persistent subscriptions through the writer, and fans the writer's
/// committed events out to the emitters.
///
/// Messages (each from the store manager, for a gateway worker):
/// - `(wire_atom, caf::actor writer, caf::actor reader)` after each start.
/// - `(subscribe_atom, subscribe_request, caf::actor subscriber)
///    -> subscribe_reply, caf::actor emitter`.
/// - `(unsubscribe_atom, std::string id, caf::actor subscriber) -> bool`.
/// - `(ack_atom, std::string id, int64_t position, caf::actor subscriber)
///    -> int64_t checkpoint`.
/// - `(remove_atom, std::string name, std::string type, std::string
///    selector) -> bool`.
/// - `(list_atom) -> std::vector<subscription_info>`.
/// - `(appended_atom, event_batch)` from the writer.
///
/// A subscriber receives `(event_atom, store, id, std::vector<recorded_event>)`
/// in position order once it granted credit with `(credit_atom, id, n)` to
/// the emitter, and `(dropped_atom, store, id, reason)` when the
/// subscription ends without being asked to.
///
/// With `counters`, each emitter keeps its checkpoint there for /metrics'
/// subscription lag.
caf::actor spawn_subscription_hub(caf::actor_system& sys,
                                  subscription_limits limits,
                                  std::shared_ptr<store_counters> counters
                                  = nullptr);

} // namespace cxesdb::stores
