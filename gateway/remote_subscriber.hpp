#pragma once

#include "caf/fwd.hpp"

namespace cxesdb::gateway {

/// Spawns the node's stand-in for one remote subscriber (a C++ client's
/// relay, or any actor that speaks the subscriber messages of
/// gateway/api.hpp). It plays the part a JSON-RPC connection actor plays:
/// the API actor sends the subscriber's subscription calls to the gateway
/// with the proxy as the connection, so the workers answer the proxy, which
/// passes each answer on to `api` as `(reply_atom, response)`, and activate
/// its subscriptions on it; emitters send it events and take its credit.
///
/// Flow control crosses the network as credit: the proxy sends the
/// subscriber at most `max_in_flight` events of a subscription that did not
/// come back as `(credit_atom, store, subscription, n)`, and grants a
/// transient subscription's emitter only the credit that came back, so no
/// queue grows on the node however slow the subscriber is. A persistent
/// subscription's emitter is bounded by acks; events beyond the credit wait
/// in the proxy, at most `max_in_flight` of them (more is a subscriber that
/// acknowledged events it never received: its subscription is dropped,
/// reason `slow_consumer`).
///
/// It monitors `subscriber` and quits when it goes down (the client stopped
/// it, or the connection to the client's node was lost); emitters then drop
/// the proxy as they drop a closed connection. Stopped with an exit message
/// (the API stops with the node), it tells the subscriber `store_stopped`
/// for every subscription it still holds.
caf::actor spawn_remote_subscriber(caf::actor_system& sys, caf::actor api,
                                   caf::actor subscriber);

} // namespace cxesdb::gateway
