#include "gateway/scavenger.hpp"

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/type_ids.hpp"
#include "stores/local_leaders.hpp"
#include "stores/messages.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;

namespace {

struct scavenger_state {
  caf::actor manager;
  scavenger_config cfg;
  /// The stores of this round not scavenged yet.
  std::deque<std::string> queue;

  static inline const char* name = "scavenger";
};

using scavenger_actor = caf::stateful_actor<scavenger_state>;

int64_t now_epoch_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

void next_store(scavenger_actor* self);

/// Sends one step of `store`'s scavenge; the next goes once it answered and
/// the throttle's pause passed (`(tick_atom, store)`).
void step(scavenger_actor* self, const std::string& store, bool first) {
  stores::command cmd
    = stores::scavenge_cmd{stores::limits::scavenge_rows_per_step,
                           stores::limits::scavenge_pages_per_step, first,
                           now_epoch_us()};
  auto sent = self->clock().now();
  self
    ->request(self->state.manager, caf::infinite, write_atom_v, store,
              std::move(cmd))
    .then(
      [self, store, sent](stores::command_result& r) {
        if (r.code != stores::result_code::ok
            || (!r.more && r.reclaimed_bytes == 0)) {
          next_store(self);
          return;
        }
        auto pause = self->state.cfg.throttle.pause_after(
          std::chrono::duration_cast<std::chrono::microseconds>(
            self->clock().now() - sent));
        if (pause.count() == 0)
          step(self, store, false);
        else
          self->delayed_send(self, pause, tick_atom_v, store);
      },
      [self](const caf::error&) { next_store(self); });
}

/// Starts the next store of the round that is led here, or ends the round.
void next_store(scavenger_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    auto store = std::move(st.queue.front());
    st.queue.pop_front();
    if (st.cfg.leaders && st.cfg.leaders->find(store)) {
      step(self, store, true);
      return;
    }
  }
  self->delayed_send(self, st.cfg.interval, tick_atom_v);
}

caf::behavior scavenger(scavenger_actor* self, caf::actor manager,
                        scavenger_config cfg) {
  self->state.manager = std::move(manager);
  self->state.cfg = std::move(cfg);
  self->delayed_send(self, self->state.cfg.interval, tick_atom_v);
  return {
    // Its own timer: the throttle's pause after a step of `store` passed.
    [self](tick_atom, std::string& store) { step(self, store, false); },
    // Its own timer: a round begins.
    [self](tick_atom) {
      self->request(self->state.manager, caf::infinite, list_atom_v)
        .then(
          [self](std::vector<stores::store_info>& infos) {
            for (auto& i : infos)
              self->state.queue.push_back(i.config.id);
            next_store(self);
          },
          [self](const caf::error&) { next_store(self); });
    },
  };
}

} // namespace

caf::actor spawn_scavenger(caf::actor_system& sys, caf::actor store_manager,
                           scavenger_config cfg) {
  return sys.spawn(scavenger, std::move(store_manager), std::move(cfg));
}

} // namespace cxesdb::gateway
