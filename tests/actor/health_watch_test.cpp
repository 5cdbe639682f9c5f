// The node's health watch (gateway/health_watch.hpp) on the deterministic
// scheduler: /health turns 503 when the store manager stops while the node
// serves, and only then.

#include <doctest/doctest.h>

#include <memory>

#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "gateway/health_watch.hpp"
#include "gateway/http/http_server.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using gateway::http::node_health;

namespace {

caf::behavior idle_manager(caf::event_based_actor*) {
  return {[](caf::get_atom) {}};
}

/// A serving node's health, a stand-in store manager and the watch on it.
struct watch_fixture : tests::actor_fixture {
  std::shared_ptr<node_health> health = std::make_shared<node_health>();
  caf::actor manager = sys.spawn(idle_manager);
  caf::actor watch; ///< held: an actor nobody references goes away

  watch_fixture() {
    health->set(node_health::phase::serving);
    watch = gateway::spawn_health_watch(sys, manager, health);
    sched.run();
  }
};

} // namespace

TEST_CASE_FIXTURE(watch_fixture,
                  "a store manager that stops while the node serves makes "
                  "the node lost") {
  CHECK(health->get() == node_health::phase::serving);
  caf::anon_send_exit(manager, caf::exit_reason::kill);
  sched.run();
  CHECK(health->get() == node_health::phase::lost);
}

TEST_CASE_FIXTURE(watch_fixture,
                  "a store manager that stops while the node stops leaves "
                  "it stopping") {
  health->set(node_health::phase::stopping);
  caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(health->get() == node_health::phase::stopping);
}
