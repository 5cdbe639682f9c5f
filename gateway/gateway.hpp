#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "caf/fwd.hpp"

#include "gateway/json_rpc.hpp"
#include "gateway/scavenger.hpp"

namespace cxesdb::stores {
class local_leaders;
} // namespace cxesdb::stores

namespace cxesdb::gateway {

class auth_registry;
class request_metrics;

/// How the gateway's workers run.
struct gateway_config {
  rpc_limits limits;
  std::string default_store = "default";
  std::string node_name = "node1";

  /// Workers in the pool.
  size_t workers = 4;
  static constexpr size_t workers_default = 4;

  /// How long a worker waits for a store's answer before it answers
  /// `timeout`.
  std::chrono::milliseconds request_timeout{10000};

  /// Seeds the workers' event id generators.
  uint64_t seed = 0;

  /// The stores whose leader replica is on this node: their reads and
  /// writes go straight to it; the rest, and any it turns away, through the
  /// store manager. Unset: everything through the store manager.
  std::shared_ptr<stores::local_leaders> leaders;

  /// The auth file (--auth-file; gateway/auth.hpp), null when
  /// authentication is off.
  std::shared_ptr<const auth_registry> auth;

  /// Where the workers count requests, durations and errors for /metrics
  /// (gateway/request_metrics.hpp); null: nothing is counted.
  std::shared_ptr<request_metrics> metrics;
  /// The config file's `store_templates` (check_store_templates), null
  /// when it has none.
  std::shared_ptr<const nlohmann::json> store_templates;

  /// How scavenge_store paces its steps (gateway/scavenger.hpp).
  scavenge_throttle scavenge;
};

/// Spawns the gateway: a round-robin pool of workers. A worker takes one
/// NDJSON message, `(rpc_atom, std::string line, caf::actor reply_to)`,
/// parses it (a request or a batch), sends each call to the store manager,
/// and answers `(reply_atom, std::string response)` to `reply_to` once the
/// whole message is answered; the response is empty when nothing is to be
/// sent (notifications). The client port sends
/// `(rpc_atom, line, reply_to, std::string principal)` instead: the
/// connection's token digest, checked against `cfg.auth` (protocol section
/// 8); the three-element form comes from the node's own callers.
caf::actor spawn_gateway(caf::actor_system& sys, caf::actor store_manager,
                         gateway_config cfg);

} // namespace cxesdb::gateway
