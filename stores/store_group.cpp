#include "stores/store_group.hpp"

#include <deque>
#include <exception>
#include <unordered_map>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/executor.hpp"
#include "actors/supervisor.hpp"
#include "actors/type_ids.hpp"
#include "stores/catalog.hpp"
#include "stores/messages.hpp"
#include "stores/subscriptions.hpp"

namespace cxesdb::stores {

using namespace cxesdb::actors;

namespace {

/// The writer's and the reader's way to stop: answer what waits
/// `unavailable`, and quit now or, with work in flight, once it is done
/// (`stop_reason` set; the done handlers quit).
template <class Actor>
void stop_when_idle(Actor* self, const caf::exit_msg& msg) {
  auto& st = self->state;
  for (auto& kv : st.queue)
    kv.second.deliver(make_error(errc::unavailable, "the store is stopping"));
  st.queue.clear();
  if (st.in_flight.empty())
    self->quit(msg.reason);
  else
    st.stop_reason = msg.reason;
}

// -- writer -------------------------------------------------------------------

struct writer_state {
  std::shared_ptr<store_files> files;
  caf::actor hub; ///< hears of every committed event
  actors::executor* exec = nullptr;
  store_group_limits limits;
  std::deque<std::pair<command, caf::response_promise>> queue;
  std::vector<caf::response_promise> in_flight;
  /// Told to stop while a transaction was in flight: stop once it is done,
  /// so that its commands get their real outcome.
  caf::error stop_reason;

  static inline const char* name = "store_writer";
};

using writer_actor = caf::stateful_actor<writer_state>;

/// The events a transaction wrote, as subscribers receive them (built on the
/// IO thread, from the commands and their results).
event_batch committed_events(const std::vector<command>& cmds,
                             const std::vector<command_result>& results) {
  auto out = std::make_shared<std::vector<recorded_event>>();
  for (size_t i = 0; i < cmds.size(); ++i) {
    auto a = std::get_if<append_cmd>(&cmds[i]);
    auto& r = results[i];
    if (a == nullptr || r.code != result_code::ok || r.appended == 0)
      continue;
    CXESDB_ASSERT(r.appended == static_cast<int64_t>(a->events.size()));
    auto first_position = r.position - r.appended + 1;
    auto first_number = r.version - r.appended + 1;
    for (int64_t k = 0; k < r.appended; ++k) {
      auto& in = a->events[static_cast<size_t>(k)];
      out->push_back(recorded_event{a->stream, first_number + k,
                                    first_position + k, in.event_id,
                                    in.event_type, in.data, in.metadata,
                                    in.content_type, a->created_epoch_us});
    }
  }
  return out;
}

/// Starts the next transaction with every command that waits (up to the
/// batch bound): group commit. At most one transaction is in flight.
void start_batch(writer_actor* self) {
  auto& st = self->state;
  if (!st.in_flight.empty() || st.queue.empty())
    return;
  auto n = std::min(st.queue.size(), st.limits.batch_commands_max);
  auto batch = std::make_shared<std::vector<command>>();
  batch->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch->push_back(std::move(st.queue.front().first));
    st.in_flight.push_back(std::move(st.queue.front().second));
    st.queue.pop_front();
  }
  auto files = st.files;
  auto me = caf::actor_cast<caf::actor>(self);
  bool publish = static_cast<bool>(st.hub);
  auto job = [files, batch, me, publish] {
    std::vector<command_result> results;
    try {
      std::lock_guard<std::mutex> guard{files->write_mtx};
      auto first = files->machine->applied_index() + 1;
      results = files->machine->apply_batch(first, *batch);
    } catch (const std::exception& e) {
      command_result failed;
      failed.code = result_code::storage_failed;
      failed.message = e.what();
      results.assign(batch->size(), failed);
    }
    event_batch events;
    if (publish)
      events = committed_events(*batch, results);
    caf::anon_send(me, done_atom_v, std::move(results), std::move(events));
  };
  if (!st.exec->try_submit(std::move(job))) {
    for (auto& rp : st.in_flight)
      rp.deliver(make_error(errc::overloaded, "the node's IO queue is full"));
    st.in_flight.clear();
  }
}

caf::behavior store_writer(writer_actor* self,
                           std::shared_ptr<store_files> files,
                           actors::executor* exec, store_group_limits limits) {
  self->state.files = std::move(files);
  self->state.exec = exec;
  self->state.limits = limits;
  // Stopping (store removed, node stopping, group restarting): commands not
  // started yet are answered `unavailable` (nothing was written; safe to
  // retry); a transaction in flight is waited for.
  self->set_exit_handler(
    [self](const caf::exit_msg& msg) { stop_when_idle(self, msg); });
  return {
    // A gateway worker (through the store manager) asks to apply a command.
    // Queues it for the next transaction; never touches SQLite itself.
    [self](write_atom, command& cmd) -> caf::result<command_result> {
      auto& st = self->state;
      if (st.stop_reason)
        return make_error(errc::unavailable, "the store is stopping");
      if (st.queue.size() >= st.limits.write_queue_max)
        return make_error(errc::overloaded, "the store's write queue is full");
      auto rp = self->make_response_promise();
      st.queue.emplace_back(std::move(cmd), rp);
      start_batch(self);
      return caf::delegated<command_result>{};
    },
    // The IO job of the transaction in flight is done: answer every command
    // of it, then start the next transaction.
    [self](done_atom, std::vector<command_result>& results,
           event_batch& events) {
      auto& st = self->state;
      CXESDB_ASSERT(results.size() == st.in_flight.size());
      for (size_t i = 0; i < results.size(); ++i)
        st.in_flight[i].deliver(std::move(results[i]));
      st.in_flight.clear();
      if (st.hub && events && !events->empty())
        self->send(st.hub, appended_atom_v, std::move(events));
      if (st.stop_reason) {
        self->quit(st.stop_reason);
        return;
      }
      start_batch(self);
    },
    // The store manager tells us the subscription hub after each start.
    [self](wire_atom, caf::actor& hub) { self->state.hub = std::move(hub); },
  };
}

// -- reader -------------------------------------------------------------------

struct reader_state {
  std::shared_ptr<store_files> files;
  actors::executor* exec = nullptr;
  store_group_limits limits;
  std::deque<std::pair<query, caf::response_promise>> queue;
  std::vector<bool> busy; // per read connection
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, caf::response_promise> in_flight;
  caf::error stop_reason; ///< stopping once the reads in flight are done

  static inline const char* name = "store_reader";
};

using reader_actor = caf::stateful_actor<reader_state>;

/// Hands waiting queries to free read connections, one job each.
void pump(reader_actor* self) {
  auto& st = self->state;
  for (size_t conn = 0; conn < st.busy.size() && !st.queue.empty(); ++conn) {
    if (st.busy[conn])
      continue;
    auto q = std::make_shared<query>(std::move(st.queue.front().first));
    auto rp = std::move(st.queue.front().second);
    st.queue.pop_front();
    auto id = st.next_id++;
    auto files = st.files;
    auto me = caf::actor_cast<caf::actor>(self);
    auto job = [files, q, me, id, conn] {
      query_result r;
      try {
        auto& rd = *files->readers[conn];
        std::lock_guard<std::mutex> guard{rd.mtx};
        r = rd.queries->run(*q);
      } catch (const std::exception& e) {
        r.code = result_code::storage_failed;
        r.message = e.what();
      }
      caf::anon_send(me, done_atom_v, id, conn, std::move(r));
    };
    if (!st.exec->try_submit(std::move(job))) {
      rp.deliver(make_error(errc::overloaded, "the node's IO queue is full"));
      continue;
    }
    st.busy[conn] = true;
    st.in_flight.emplace(id, std::move(rp));
  }
}

caf::behavior store_reader(reader_actor* self,
                           std::shared_ptr<store_files> files,
                           actors::executor* exec, store_group_limits limits) {
  auto& st = self->state;
  st.busy.assign(files->readers.size(), false);
  CXESDB_ASSERT(!st.busy.empty());
  st.files = std::move(files);
  st.exec = exec;
  st.limits = limits;
  // Stopping: waiting reads are answered `unavailable`; reads in flight
  // finish first.
  self->set_exit_handler(
    [self](const caf::exit_msg& msg) { stop_when_idle(self, msg); });
  return {
    // A gateway worker (through the store manager) asks for a read. Queues
    // it until a read connection is free; never touches SQLite itself.
    [self](read_atom, query& q) -> caf::result<query_result> {
      auto& st = self->state;
      if (st.stop_reason)
        return make_error(errc::unavailable, "the store is stopping");
      if (st.queue.size() >= st.limits.read_queue_max)
        return make_error(errc::overloaded, "the store's read queue is full");
      auto rp = self->make_response_promise();
      st.queue.emplace_back(std::move(q), rp);
      pump(self);
      return caf::delegated<query_result>{};
    },
    // A read job is done: answer it and give its connection the next one.
    [self](done_atom, uint64_t id, size_t conn, query_result& r) {
      auto& st = self->state;
      auto i = st.in_flight.find(id);
      CXESDB_ASSERT(i != st.in_flight.end());
      i->second.deliver(std::move(r));
      st.in_flight.erase(i);
      st.busy[conn] = false;
      if (st.stop_reason) {
        if (st.in_flight.empty())
          self->quit(st.stop_reason);
        return;
      }
      pump(self);
    },
  };
}

} // namespace

caf::actor spawn_store_writer(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec,
                              store_group_limits limits) {
  return sys.spawn(store_writer, std::move(files), &exec, limits);
}

caf::actor spawn_store_reader(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec,
                              store_group_limits limits) {
  return sys.spawn(store_reader, std::move(files), &exec, limits);
}

caf::actor spawn_store_group(caf::actor_system& sys,
                             std::shared_ptr<store_files> files,
                             actors::executor& exec, store_group_limits limits,
                             subscription_limits sub_limits,
                             caf::actor observer) {
  actors::supervisor_config cfg;
  cfg.children.emplace_back([files, &exec, limits](caf::actor_system& s) {
    return spawn_store_writer(s, files, exec, limits);
  });
  cfg.children.emplace_back([files, &exec, limits](caf::actor_system& s) {
    return spawn_store_reader(s, files, exec, limits);
  });
  cfg.children.emplace_back([sub_limits](caf::actor_system& s) {
    return spawn_subscription_hub(s, sub_limits);
  });
  return actors::spawn_supervisor(sys, std::move(cfg), std::move(observer));
}

} // namespace cxesdb::stores
