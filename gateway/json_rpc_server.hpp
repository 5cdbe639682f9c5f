#pragma once

#include <cstdint>
#include <string>

#include "caf/fwd.hpp"

#include "gateway/server_config.hpp"

namespace cxesdb::gateway {

/// Spawns the JSON-RPC server, an `io::broker` that accepts TCP connections
/// and forks one broker per connection. A connection broker frames NDJSON
/// (`\n` or `\r\n`), hands every message to `gateway`, and writes the answers
/// back as they come, in any order.
///
/// Returns the server's actor in `server` and the bound port, or an error
/// text in `err` (then the result is 0).
uint16_t start_json_rpc_server(caf::actor_system& sys, caf::actor gateway,
                               const server_config& cfg, caf::actor& server,
                               std::string& err);

} // namespace cxesdb::gateway
