#pragma once

#include <memory>

#include "caf/fwd.hpp"

namespace cxesdb::gateway::http {
class node_health;
} // namespace cxesdb::gateway::http

namespace cxesdb::gateway {

/// Spawns the actor that watches the node's store manager: should the
/// manager stop while the node serves, it marks `health` lost (so /health
/// and /ready answer 503) and logs why, then quits. A manager that stops
/// while the node starts or stops changes nothing: /health already says
/// 503 then. The node's main spawns it once every listener is up.
caf::actor spawn_health_watch(caf::actor_system& sys, caf::actor manager,
                              std::shared_ptr<http::node_health> health);

} // namespace cxesdb::gateway
