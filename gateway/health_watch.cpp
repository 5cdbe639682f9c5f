#include "gateway/health_watch.hpp"

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"

#include "actors/log.hpp"
#include "gateway/http/http_server.hpp"

namespace cxesdb::gateway {

caf::actor spawn_health_watch(caf::actor_system& sys, caf::actor manager,
                              std::shared_ptr<http::node_health> health) {
  return sys.spawn([manager, health](caf::event_based_actor* self)
                     -> caf::behavior {
    self->monitor(manager);
    self->set_down_handler([self, health](caf::down_msg&) {
      if (health->get() == http::node_health::phase::serving) {
        health->set(http::node_health::phase::lost);
        actors::log_error("the store manager stopped: /health answers 503");
      }
      self->quit();
    });
    return {[](caf::get_atom) {}};
  });
}

} // namespace cxesdb::gateway
