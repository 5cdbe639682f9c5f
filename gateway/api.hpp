#pragma once

// The typed interface of a node's API actor: what a cxesdb node publishes on
// `--api-port` for C++ clients and what `cxesdb::gateway::client` talks to.
// Shared by the node (gateway/remote_api.cpp) and the client library, so it
// holds nothing but the interface. Only serializable types cross the
// network: atoms, integers, strings, vectors of strings and actor handles.

#include <string>

#include "caf/actor.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "actors/type_ids.hpp"

namespace cxesdb::gateway {

/// A node's API actor. Two message kinds:
///
/// `(call_atom, method, params)` -> `result`
///
/// - `method`: a protocol method name (docs/protocol.md section 6), e.g.
///   `"append_events"`.
/// - `params`: the method's params as JSON object text (`""` is `{}`).
/// - `result`: the method's result as JSON text, exactly what a JSON-RPC
///   client receives as `result`.
///
/// `(call_atom, method, params, subscriber)` -> `result`
///
/// The same, on behalf of `subscriber`, an actor that plays the part of a
/// JSON-RPC connection: save_subscription makes it a subscriber,
/// unsubscribe and ack_event act on its subscriptions (other methods are
/// served as without it). Without a subscriber these three answer
/// `method_not_found`.
///
/// A failed call answers a `caf::error` with category `caf::atom("cxesdb")`,
/// code `stores::errc` (the protocol's reason) and as context a message of
/// two strings: the error's human text and its `data` object as JSON text
/// (with `reason`, and `field`, `what`, `current_version`... as the JSON
/// client sees them).
///
/// A subscriber receives, from a stand-in actor the node keeps for it (its
/// proxy):
///
/// - `(event_atom, std::string store, std::string subscription,
///   std::vector<std::string> events)`: events in position order, each the
///   JSON text of the `event` object of the protocol's `event`
///   notification;
/// - `(dropped_atom, std::string store, std::string subscription,
///   std::string reason)`: the subscription ended unasked (the reasons of
///   `subscription_dropped`).
///
/// It returns credit to the sender of the events,
/// `(credit_atom, std::string store, std::string subscription, int64_t n)`,
/// once it is done with `n` of them: the proxy sends no more than
/// `max_in_flight` events of a subscription that did not come back as
/// credit (a persistent subscription is bounded by its acks as well). The
/// node monitors the subscriber: when it goes down or its connection is
/// lost, its subscriptions end as a closed JSON-RPC connection's do.
/// The client library's subscriber is its relay (gateway/relay.hpp).
using api_actor = caf::typed_actor<
  caf::replies_to<actors::call_atom, std::string, std::string>::with<
    std::string>,
  caf::replies_to<actors::call_atom, std::string, std::string,
                  caf::actor>::with<std::string>>;

} // namespace cxesdb::gateway
