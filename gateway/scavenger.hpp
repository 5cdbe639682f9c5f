#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "caf/fwd.hpp"

namespace cxesdb::stores {
class local_leaders;
} // namespace cxesdb::stores

namespace cxesdb::gateway {

/// How much of its time a scavenge may spend working (flag
/// --scavenge-throttle-percent): after a step that took `took` it waits
/// took * (100 - percent) / percent before the next, so that the appends
/// beside it keep the rest of the machine. 100: no pause. Both
/// scavenge_store and the background scavenger keep it.
struct scavenge_throttle {
  int64_t percent = 50;
  static constexpr int64_t percent_default = 50;
  static constexpr int64_t percent_min = 1;
  static constexpr int64_t percent_max = 100;

  std::chrono::microseconds pause_after(std::chrono::microseconds took) const {
    if (percent >= percent_max || took.count() <= 0)
      return std::chrono::microseconds{0};
    return took * (percent_max - percent) / percent;
  }
};

/// How a node's background scavenger runs.
struct scavenger_config {
  /// Time from the end of one round to the start of the next (flag
  /// --scavenge-interval-s). A round scavenges every store it finds led
  /// here, one after the other.
  std::chrono::seconds interval{3600};
  static constexpr int64_t interval_s_default = 3600;

  scavenge_throttle throttle;

  /// The stores whose leader replica is on this node: only those are
  /// scavenged here, so that each store is scavenged by one node per round.
  std::shared_ptr<stores::local_leaders> leaders;
};

/// Spawns the node's background scavenger. Every `interval` it asks the
/// store manager for the stores, and scavenges each one whose leader is on
/// this node as `scavenge_store` does: small scavenge_cmd steps through the
/// store's log, one at a time and paced by `cfg.throttle`, so that appends
/// interleave with them. It
/// never touches a database itself; a failed step ends that store's turn
/// (the next round tries again).
caf::actor spawn_scavenger(caf::actor_system& sys, caf::actor store_manager,
                           scavenger_config cfg);

} // namespace cxesdb::gateway
