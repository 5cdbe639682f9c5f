#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/executor.hpp"
#include "actors/raft/consensus_actor.hpp"
#include "stores/store_group.hpp"
#include "tests/temp_dir.hpp"

namespace cxesdb::tests {

/// An actor system on CAF's deterministic scheduler plus a manual executor:
/// messages run only when the test calls `sched.run()`, IO jobs only when it
/// calls `exec.run_once()`, and timers (the Raft tick) fire only when it
/// calls `tick()`. No threads, no sleeps.
struct actor_fixture {
  static caf::actor_system_config& configure(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console", caf::atom("none"));
    return cfg;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{configure(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};
  actors::manual_executor exec;

  /// The Raft tick of the replicas the tests spawn.
  static constexpr uint64_t tick_ms = stores::replica_config::tick_interval_ms_default;

  /// Runs messages and jobs until nothing is left to do. Timers do not fire:
  /// time stands still unless the test calls `tick()`.
  void settle() {
    settle(exec);
  }

  /// Same, with the jobs of another executor.
  void settle(actors::manual_executor& io);

  /// Lets one Raft tick of time pass (every actor's timer due by then fires)
  /// and settles, `n` times.
  void tick(size_t n = 1) {
    tick(exec, n);
  }

  void tick(actors::manual_executor& io, size_t n = 1);

  /// A replica that is the only voter of its group, `group`: it elects
  /// itself as soon as its Raft storage is loaded, without a timeout.
  static stores::replica_config single_voter(const std::string& group = "s");

  /// The consensus state of `writer`'s replica, as `(group_status_atom)`
  /// answers it; asks from a scoped actor of its own so that the answer
  /// never mixes with what `self` receives. Runs every pending message
  /// (`sched.run()`), but no IO job and no timer.
  actors::raft::group_status status(const caf::actor& writer);
};

} // namespace cxesdb::tests
