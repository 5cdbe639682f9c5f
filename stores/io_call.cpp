#include "stores/io_call.hpp"

#include <memory>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "actors/executor.hpp"
#include "actors/type_ids.hpp"
#include "stores/messages.hpp"

namespace cxesdb::stores {

using namespace cxesdb::actors;

namespace {

caf::behavior io_call(caf::event_based_actor* self, executor* exec,
                      std::function<io_outcome()> job) {
  auto rp = std::make_shared<caf::response_promise>();
  return {
    // The one caller (the store manager) asks once: run the job.
    [=](call_atom) -> caf::result<std::string> {
      *rp = self->make_response_promise<std::string>();
      auto me = caf::actor_cast<caf::actor>(self);
      auto ok = exec->try_submit([me, job] {
        auto out = job();
        caf::anon_send(me, done_atom_v, out.ok,
                       static_cast<uint8_t>(out.reason), std::move(out.text),
                       std::move(out.what));
      });
      if (!ok) {
        self->quit();
        return make_error(errc::overloaded, "the node's IO threads are busy");
      }
      return caf::delegated<std::string>{};
    },
    // The job, from its IO thread: answer and go.
    [=](done_atom, bool ok, uint8_t reason, std::string& text,
        std::string& what) {
      if (ok)
        rp->deliver(std::move(text));
      else
        rp->deliver(make_error(static_cast<errc>(reason), std::move(text),
                               std::move(what)));
      self->quit();
    },
  };
}

} // namespace

caf::actor spawn_io_call(caf::actor_system& sys, executor& exec,
                         std::function<io_outcome()> job) {
  return sys.spawn(io_call, &exec, std::move(job));
}

} // namespace cxesdb::stores
