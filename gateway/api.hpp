#pragma once

// The typed interface of a node's API actor: what a cxesdb node publishes on
// `--api-port` for C++ clients and what `cxesdb::gateway::client` talks to.
// Shared by the node (gateway/remote_api.cpp) and the client library, so it
// holds nothing but the interface. Only serializable types cross the
// network: the atom and strings.

#include <string>

#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "actors/type_ids.hpp"

namespace cxesdb::gateway {

/// A node's API actor. One message kind:
///
/// `(call_atom, method, params)` -> `result`
///
/// - `method`: a protocol method name (docs/protocol.md section 6), e.g.
///   `"append_events"`.
/// - `params`: the method's params as JSON object text (`""` is `{}`).
/// - `result`: the method's result as JSON text, exactly what a JSON-RPC
///   client receives as `result`.
///
/// A failed call answers a `caf::error` with category `caf::atom("cxesdb")`,
/// code `stores::errc` (the protocol's reason) and as context a message of
/// two strings: the error's human text and its `data` object as JSON text
/// (with `reason`, and `field`, `what`, `current_version`... as the JSON
/// client sees them).
///
/// Subscription calls that make the caller a subscriber (save_subscription,
/// unsubscribe, ack_event) are not served over this interface yet; they
/// answer `method_not_found`.
using api_actor = caf::typed_actor<
  caf::replies_to<actors::call_atom, std::string, std::string>::with<
    std::string>>;

} // namespace cxesdb::gateway
