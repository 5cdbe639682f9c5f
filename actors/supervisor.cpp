#include "actors/supervisor.hpp"

#include <deque>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/type_ids.hpp"

namespace cxesdb::actors {

namespace {

struct supervisor_state {
  supervisor_config cfg;
  caf::actor observer;
  std::vector<caf::actor> children;
  std::deque<caf::actor_clock::time_point> restarts;
  bool restarting = false;

  static inline const char* name = "supervisor";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void start_children(supervisor_actor* self) {
  auto& st = self->state;
  CXESDB_ASSERT(st.children.empty());
  for (auto& make : st.cfg.children) {
    auto child = make(self->system());
    CXESDB_ASSERT(child);
    self->monitor(child);
    st.children.push_back(std::move(child));
  }
  if (st.observer)
    self->send(st.observer, children_atom_v, st.children);
}

void stop_children(supervisor_actor* self) {
  for (auto& child : self->state.children) {
    self->demonitor(child);
    self->send_exit(child, caf::exit_reason::user_shutdown);
  }
  self->state.children.clear();
}

caf::behavior supervisor(supervisor_actor* self, supervisor_config cfg,
                         caf::actor observer) {
  self->state.cfg = std::move(cfg);
  self->state.observer = std::move(observer);
  // A child stopped while we run: restart the whole group (one-for-all), or
  // give up when it keeps failing. Called by CAF's monitoring; must not
  // block.
  self->set_down_handler([self](const caf::down_msg&) {
    auto& st = self->state;
    stop_children(self);
    auto now = self->clock().now();
    while (!st.restarts.empty()
           && now - st.restarts.front() > st.cfg.restart_window)
      st.restarts.pop_front();
    if (st.restarts.size() >= st.cfg.restart_max) {
      if (st.observer)
        self->send(st.observer, gave_up_atom_v);
      self->quit(caf::exit_reason::unhandled_exception);
      return;
    }
    st.restarts.push_back(now);
    start_children(self);
  });
  // Told to exit (store removed, node stopping): stop the children first.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    stop_children(self);
    self->quit(msg.reason);
  });
  start_children(self);
  return {
    // Who the children are now: for tests and tools.
    [self](children_atom) { return self->state.children; },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                            caf::actor observer) {
  return sys.spawn(supervisor, std::move(cfg), std::move(observer));
}

} // namespace cxesdb::actors
