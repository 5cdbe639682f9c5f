#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "caf/fwd.hpp"

#include "gateway/server_config.hpp"

namespace cxesdb::gateway {

class auth_registry;

/// Starts the JSON-RPC server on the client port: a `socket_server`
/// (gateway/socket_server.hpp: one epoll thread the node owns) that frames
/// NDJSON (`\n` or `\r\n`), and one lightweight actor per connection, the
/// address gateway workers answer and subscription emitters deliver to. A
/// connection hands every message to `gateway` as `(rpc_atom, line,
/// connection actor)` and writes the answers back as they come, in any
/// order.
///
/// Returns the server's actor in `server` (an exit message to it stops the
/// IO thread and closes every connection) and the bound port, or an error
/// text in `err` (then the result is 0 and `server` is not set). Call it
/// from the main thread: it resolves and binds the address.
///
/// With `auth` (--auth-file), each connection has an `auth_gate`
/// (gateway/auth_gate.hpp) that answers `authenticate` and sends every
/// other message as `(rpc_atom, line, connection actor, principal)`.
uint16_t start_json_rpc_server(caf::actor_system& sys, caf::actor gateway,
                               const server_config& cfg, caf::actor& server,
                               std::string& err,
                               std::shared_ptr<const auth_registry> auth
                               = nullptr);

} // namespace cxesdb::gateway
