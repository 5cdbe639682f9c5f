#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

#include "caf/fwd.hpp"

namespace cxesdb::actors {

/// Spawns one child of a supervisor; called at start and on every restart.
using child_factory = std::function<caf::actor(caf::actor_system&)>;

/// How a supervisor starts and restarts its children.
struct supervisor_config {
  /// The children, started in this order.
  std::vector<child_factory> children;

  /// Restarts allowed within `restart_window`; one more and the supervisor
  /// gives up and stops.
  size_t restart_max = 3;
  static constexpr size_t restart_max_default = 3;

  std::chrono::milliseconds restart_window = std::chrono::milliseconds{5000};
};

/// Spawns a one-for-all supervisor, in the manner of Erlang/OTP: when one
/// child stops for any reason while the supervisor runs, it stops the others
/// and starts all of them anew, at most `restart_max` times within
/// `restart_window`. When the supervisor itself is told to exit, it stops its
/// children first.
///
/// `observer` (may be invalid) receives `(children_atom,
/// std::vector<caf::actor>)` after every (re)start and `(gave_up_atom)` when
/// the restart limit is exceeded.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                            caf::actor observer);

} // namespace cxesdb::actors
