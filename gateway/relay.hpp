#pragma once

// The client library's subscriber actor (internal: not installed). See
// docs/client.md, "Subscribing with an actor".

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_addr.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

#include "gateway/api.hpp"
#include "gateway/client.hpp"

namespace cxesdb::gateway {

/// The relays of one client (and its copies) by store, as the client names
/// it ("" for the node's default store), and subscription id: how
/// `client::ack` and `client::unsubscribe` find a subscription's relay.
/// Thread-safe.
class relay_registry {
public:
  using key = std::pair<std::string, std::string>;

  /// The relay of `k`, or an invalid handle.
  caf::actor find(const key& k);

  /// Registers `relay` under `k` unless another relay has it; returns
  /// whether `relay` has it now.
  bool put(const key& k, const caf::actor& relay);

  /// Forgets every key of the relay `addr` (it stopped).
  void erase(const caf::actor_addr& addr);

private:
  std::mutex mx_;
  std::map<key, caf::actor> relays_;
};

/// What a relay needs to subscribe.
struct relay_args {
  /// The node's API actor.
  api_actor api;
  /// The store as the client names it ("" for the node's default store).
  std::string store;
  /// save_subscription's params as JSON text.
  std::string params;
  /// A persistent subscription's name: the relay claims it in the registry
  /// before it subscribes, and fails with `already_exists` when another
  /// relay of the client has it. Empty for a transient subscription.
  std::string claim;
  /// The user's actor that receives the events.
  caf::actor receiver;
  /// How long the relay's calls to the node may take.
  std::chrono::milliseconds call_timeout{0};
  std::shared_ptr<relay_registry> registry;
  /// Called once, from the relay: the save_subscription result, or the
  /// error that ended it (as the node or CAF gave it).
  std::function<void(caf::expected<subscribe_result>)> done;
};

/// Spawns the relay of one subscription. It calls save_subscription with
/// itself as the subscriber (gateway/api.hpp), registers itself under the
/// subscription's id, and then forwards every event the node's proxy sends
/// to `receiver` as a request
/// `(event_atom, store, subscription, std::string event)`, `store` as the
/// client names it; each answer (of any type, or an error) gives one event
/// of credit back to the proxy, so at most `max_in_flight` events of the
/// subscription are anywhere between the node and the receiver's handler.
/// Events that arrive before the save_subscription answer wait, so the
/// receiver never gets an event the client cannot acknowledge yet.
///
/// It also serves, from the client or from the receiver itself:
/// - `(ack_atom, int64_t position) -> int64_t checkpoint`: ack_event;
/// - `(unsubscribe_atom) -> bool`: unsubscribe; the relay then stops.
///
/// It stops when the receiver goes down (the node's proxy sees it go and
/// the subscription ends), and after telling the receiver
/// `(dropped_atom, store, subscription, reason)` when the subscription ends
/// unasked: `reason` is the node's, or `unavailable` when the connection to
/// the node was lost.
caf::actor spawn_relay(caf::actor_system& sys, relay_args args);

} // namespace cxesdb::gateway
