#pragma once

#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/executor.hpp"

namespace cxesdb::tests {

/// An actor system on CAF's deterministic scheduler plus a manual executor:
/// messages run only when the test calls `sched.run()`, IO jobs only when it
/// calls `exec.run_once()`. No threads, no sleeps.
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

  /// Runs messages and jobs until nothing is left to do.
  void settle() {
    do {
      sched.run();
    } while (exec.run_all() > 0);
    sched.run();
  }
};

/// A temporary directory, removed with everything in it at the end.
struct temp_dir {
  std::string path;
  temp_dir();
  ~temp_dir();
};

} // namespace cxesdb::tests
