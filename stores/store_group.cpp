#include "stores/store_group.hpp"

#include <chrono>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <unordered_map>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/executor.hpp"
#include "actors/log.hpp"
#include "actors/raft/consensus_actor.hpp"
#include "actors/raft/core.hpp"
#include "actors/supervisor.hpp"
#include "actors/type_ids.hpp"
#include "stores/catalog.hpp"
#include "stores/codec.hpp"
#include "stores/local_leaders.hpp"
#include "stores/messages.hpp"
#include "stores/store_image.hpp"
#include "stores/store_metrics.hpp"
#include "stores/subscriptions.hpp"

namespace cxesdb::stores {

using namespace cxesdb::actors;
namespace raft = cxesdb::actors::raft;

namespace {

struct reader_state;

/// The reader's way to stop: answer what waits `unavailable`, and quit now
/// or, with reads in flight, once they are done (`stop_reason` set; the done
/// handler quits).
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

/// A command proposed to the store's Raft group, waiting for its entry to be
/// applied.
struct pending_write {
  uint64_t term = 0;
  caf::response_promise rp;
  /// When it is answered `timeout` if still not applied
  /// (`replica_config::answer_within_ms`).
  caf::actor_clock::time_point deadline;
};

/// A linearizable read waiting for the state machine to reach `index`.
struct pending_read {
  uint64_t index = 0;
  query q;
  caf::response_promise rp;
};

struct writer_state {
  std::shared_ptr<store_files> files;
  caf::actor hub;       ///< hears of every committed event
  caf::actor reader;    ///< serves reads once they are linearizable
  /// This replica's member of the store's Raft group, run by this actor:
  /// a proposal is a call, a commit hands over its entries in a call.
  raft::consensus_state raft;
  actors::executor* exec = nullptr;
  store_group_limits limits;
  replica_config replica;
  /// Reads waiting for a quorum to confirm the read index, by a sequence
  /// number of their own: stopping answers them too.
  std::unordered_map<uint64_t, caf::response_promise> indexing;
  uint64_t next_ask = 0;
  /// Proposed commands by log index.
  std::map<uint64_t, pending_write> pending;
  /// Committed entries waiting for the next apply transaction.
  std::deque<raft::entry> committed;
  /// The apply transaction in flight.
  bool applying = false;
  /// The state machine's applied index, as of the last apply job.
  uint64_t applied = 0;
  /// Entries and bytes applied since the last synced apply transaction;
  /// past the limits, the next one is synced and the log compacted.
  uint64_t unsynced_entries = 0;
  uint64_t unsynced_bytes = 0;
  /// Reads waiting for `applied` to reach their read index.
  std::deque<pending_read> reads;
  /// Told to stop while an apply transaction was in flight: stop once it
  /// is done.
  caf::error stop_reason;
  /// When the store last wrote, read or applied; after
  /// `limits.hibernate_after_ms` without that it hibernates (closes its
  /// connections) until the next job opens them. The timer runs only after
  /// activity: a hibernating store has none.
  caf::actor_clock::time_point last_active;
  bool hibernate_armed = false;
  bool hibernating = false;
  /// The writer is in the node's local leaders (`replica_config::leaders`).
  bool advertised = false;
  /// A `deadline_atom` is on its way (pending writes have deadlines).
  bool expiry_armed = false;

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

/// Takes the promise of request `seq` out of `waiting`; none when stopping
/// answered it already.
std::optional<caf::response_promise>
take(std::unordered_map<uint64_t, caf::response_promise>& waiting,
     uint64_t seq) {
  auto i = waiting.find(seq);
  if (i == waiting.end())
    return std::nullopt;
  auto rp = std::move(i->second);
  waiting.erase(i);
  return rp;
}

/// An error saying this replica cannot serve the request because it is not
/// the leader; `leader` is the Raft id of the leader it knows (0 = none), for
/// the router to try next. Nothing was written.
caf::error not_leader_error(uint64_t leader) {
  return make_error(errc::not_leader, "this replica is not the leader",
                    std::to_string(leader));
}

/// Copies the group's Raft figures and the applied index to the store's
/// counters for /metrics (relaxed stores; nothing waits).
void publish_figures(writer_actor* self) {
  auto& st = self->state;
  auto& c = st.replica.counters;
  if (!c || !st.raft.core)
    return;
  auto& core = *st.raft.core;
  c->raft_term.store(core.term(), std::memory_order_relaxed);
  c->raft_commit_index.store(core.commit_index(), std::memory_order_relaxed);
  c->raft_applied_index.store(st.applied, std::memory_order_relaxed);
  c->raft_is_leader.store(core.role() == raft::role::leader,
                          std::memory_order_relaxed);
}

/// Puts this writer in the node's local leaders, or takes it out, as it
/// just found it leads the group or not. The catalog's replica (with an
/// observer) is never advertised: clients do not address `_system`.
void advertise(writer_actor* self, bool leader) {
  auto& st = self->state;
  if (!st.replica.leaders || st.replica.observer || st.advertised == leader)
    return;
  st.advertised = leader;
  publish_figures(self);
  auto me = caf::actor_cast<caf::actor>(self);
  if (leader)
    st.replica.leaders->set(st.replica.group, me);
  else
    st.replica.leaders->clear(st.replica.group, me);
}

/// Schedules the next look at the pending writes' deadlines, `after` from
/// now, unless one is on its way. One timer per store, not per write.
void arm_expiry(writer_actor* self, caf::timespan after) {
  auto& st = self->state;
  if (st.expiry_armed || st.pending.empty() || st.replica.answer_within_ms == 0)
    return;
  st.expiry_armed = true;
  self->delayed_send(self, after, deadline_atom_v);
}

/// Whether this replica compacts its Raft log into its database. The
/// catalog (`_system`, followed through an observer that folds every applied
/// event) keeps its whole log: an installed image would skip the events its
/// observer folds.
bool compacts(const writer_state& st) {
  return !st.replica.observer;
}

/// Applies the next committed entries (up to the batch bound) in one
/// transaction on an IO thread. Entries the state machine already has (a
/// restart replays the log from the last snapshot) are skipped there, under
/// the write lock. One transaction is in flight at a time, so entries apply
/// in log order.
void start_apply(writer_actor* self) {
  auto& st = self->state;
  if (st.applying || st.committed.empty())
    return;
  auto n = std::min(st.committed.size(), st.limits.batch_commands_max);
  auto first = st.committed.front().index;
  auto batch = std::make_shared<std::vector<command>>();
  auto terms = std::make_shared<std::vector<uint64_t>>();
  batch->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto& e = st.committed.front();
    CXESDB_ASSERT(e.index == first + i);
    ++st.unsynced_entries;
    st.unsynced_bytes += e.data.size();
    std::optional<command> cmd;
    if (e.type == raft::entry_type::normal && !e.data.empty()) {
      cmd = decode(e.data);
      if (!cmd)
        log_error("store " + st.replica.group + ": entry "
                  + std::to_string(e.index) + " is not a command; skipped");
    }
    batch->push_back(cmd ? std::move(*cmd) : command{noop_cmd{}});
    terms->push_back(e.term);
    st.committed.pop_front();
  }
  st.applying = true;
  auto files = st.files;
  auto me = caf::actor_cast<caf::actor>(self);
  bool publish = st.hub || st.replica.observer;
  auto counters = st.replica.counters;
  // The database runs with synchronous=NORMAL (the Raft log is the durable
  // copy); a compaction needs the database itself durable up to its point.
  bool sync = compacts(st)
              && (st.unsynced_entries >= st.limits.compact_every_entries
                  || st.unsynced_bytes >= st.limits.compact_every_bytes);
  st.exec->submit([files, batch, first, me, publish, terms, sync, counters] {
    std::vector<command_result> results;
    uint64_t applied = 0;
    uint64_t skip = 0;
    bool failed = false;
    bool durable = false;
    std::string failure;
    event_batch events;
    {
      std::lock_guard<std::mutex> guard{files->write_mtx};
      state_machine* opened = nullptr;
      try {
        opened = &files->writer(); // a hibernating store opens again
      } catch (const std::exception& e) {
        failed = true;
        failure = std::string{"opening the store: "} + e.what();
      }
      if (opened) {
        auto& m = *opened;
        skip = m.applied_index() >= first
                 ? std::min<uint64_t>(m.applied_index() - first + 1,
                                      batch->size())
                 : 0;
        // What is applied follows the applied index, with no gap. A group
        // starts from its bootstrap snapshot at index 1, which holds no
        // command: the first entry a new replica applies is 2. A batch of a
        // replay that lies wholly below the applied index is skipped.
        CXESDB_ASSERT(skip == batch->size()
                      || first + skip == m.applied_index() + 1
                      || (m.applied_index() == 0 && first == 2));
        if (skip < batch->size()) {
          std::vector<command> rest(
            std::make_move_iterator(batch->begin() + skip),
            std::make_move_iterator(batch->end()));
          try {
            if (sync)
              files->write_db->exec("PRAGMA synchronous=FULL;");
            results = m.apply_batch(first + skip, rest);
            if (sync)
              files->write_db->exec("PRAGMA synchronous=NORMAL;");
            failed = m.applied_index() != first + batch->size() - 1;
            durable = sync && !failed;
            if (failed && !results.empty())
              failure = results.front().message;
          } catch (const std::exception& e) {
            failed = true;
            failure = e.what();
          }
          if (publish && !failed)
            events = committed_events(rest, results);
        }
        applied = m.applied_index();
        if (counters) {
          counters->events.store(m.figures().events, std::memory_order_relaxed);
          counters->streams.store(m.figures().streams,
                                  std::memory_order_relaxed);
          counters->last_position.store(m.next_position() - 1,
                                        std::memory_order_relaxed);
        }
      }
    }
    caf::anon_send(me, done_atom_v, first + skip, std::move(results),
                   std::move(*terms), applied, std::move(failure), failed,
                   durable, std::move(events));
  });
}

/// Schedules the hibernation check `after` from now, unless one is pending.
void arm_hibernation(writer_actor* self, std::chrono::milliseconds after) {
  auto& st = self->state;
  if (st.hibernate_armed || st.limits.hibernate_after_ms == 0)
    return;
  st.hibernate_armed = true;
  self->delayed_send(self, after, hibernate_atom_v);
}

/// Notes that the store is in use.
void touch(writer_actor* self) {
  auto& st = self->state;
  st.last_active = self->clock().now();
  st.hibernating = false;
  arm_hibernation(self, std::chrono::milliseconds{st.limits.hibernate_after_ms});
}

/// The consensus committed `entries` (in log order): they wait for the next
/// apply transaction. Called inside the writer, from its consensus.
void take_committed(writer_actor* self, const std::vector<raft::entry>& entries) {
  auto& st = self->state;
  touch(self);
  for (auto& e : entries)
    st.committed.push_back(e);
  start_apply(self);
}

/// Serves the reads whose read index the state machine reached.
void release_reads(writer_actor* self) {
  auto& st = self->state;
  for (auto i = st.reads.begin(); i != st.reads.end();) {
    if (i->index > st.applied) {
      ++i;
      continue;
    }
    if (st.reader)
      i->rp.delegate(st.reader, read_atom_v, std::move(i->q));
    else
      i->rp.deliver(make_error(errc::unavailable, "the store is starting"));
    i = st.reads.erase(i);
  }
}

/// Answers what waits `unavailable` and stops (with the consensus it
/// runs). A proposal in flight may still commit; its
/// client hears `timeout`/unavailable from the router and the idempotent
/// event ids make a retry safe.
void stop_writer(writer_actor* self, const caf::error& reason) {
  auto& st = self->state;
  advertise(self, false);
  auto err = make_error(errc::unavailable, "the store is stopping");
  for (auto& kv : st.indexing)
    kv.second.deliver(err);
  st.indexing.clear();
  for (auto& kv : st.pending)
    kv.second.rp.deliver(err);
  st.pending.clear();
  for (auto& r : st.reads)
    r.rp.deliver(err);
  st.reads.clear();
  if (!st.applying)
    self->quit(reason);
  else
    st.stop_reason = reason;
}

caf::behavior store_writer(writer_actor* self,
                           std::shared_ptr<store_files> files,
                           actors::executor* exec, store_group_limits limits,
                           replica_config replica) {
  auto& st = self->state;
  st.files = std::move(files);
  st.exec = exec;
  st.limits = limits;
  st.replica = std::move(replica);
  raft::consensus_config ccfg;
  ccfg.core.id = st.replica.node;
  ccfg.db_path = st.files->raft_db_path;
  ccfg.log = st.replica.log;
  ccfg.initial_voters = st.replica.initial_voters;
  ccfg.tick_interval_ms = st.replica.tick_interval_ms;
  ccfg.seed = st.replica.seed;
  ccfg.transport = st.replica.transport;
  ccfg.group = st.replica.group;
  ccfg.campaign_on_load = st.replica.campaign_at_start;
  ccfg.compact_keep_entries = st.limits.compact_keep_entries;
  ccfg.compact_pin_bytes_max = st.limits.compact_pin_bytes;
  ccfg.snapshot_chunk_bytes = st.limits.snapshot_chunk_bytes;
  if (compacts(st)) {
    auto files = st.files;
    ccfg.image.make = [files](uint64_t index, const std::string& path) {
      return make_store_image(*files, index, path);
    };
    ccfg.image.install = [files](uint64_t index, const std::string& path) {
      return install_store_image(*files, index, path);
    };
    ccfg.image.dir
      = std::filesystem::path{st.files->db_path}.parent_path().string();
  }
  // Both run inside the writer, from its consensus: never block.
  ccfg.apply = [self](const std::vector<raft::entry>& entries) {
    take_committed(self, entries);
  };
  ccfg.on_fail = [self](const caf::error& reason) {
    log_error("store " + self->state.replica.group
              + ": consensus stopped: " + self->system().render(reason));
    stop_writer(self, reason);
  };
  auto consensus = raft::consensus_behavior(
    self, st.raft, ccfg, exec, std::map<raft::node_id, caf::actor>{});
  touch(self);
  // Stopping (store removed, node stopping, group restarting): requests
  // not applied yet are answered `unavailable`; a transaction in flight is
  // waited for.
  self->set_exit_handler(
    [self](const caf::exit_msg& msg) { stop_writer(self, msg.reason); });
  caf::message_handler own{
    // A gateway worker (directly, or through the store manager's router)
    // asks to apply a command. Proposes it to the consensus; the answer
    // comes once its entry is applied. Never touches SQLite itself.
    [self](write_atom, command& cmd) -> caf::result<command_result> {
      auto& st = self->state;
      if (st.stop_reason)
        return make_error(errc::unavailable, "the store is stopping");
      touch(self);
      if (st.pending.size() >= st.limits.write_queue_max)
        return make_error(errc::overloaded, "the store's write queue is full");
      auto r = raft::propose(self, st.raft, encode(cmd));
      switch (r.status) {
        case raft::propose_status::ok: {
          advertise(self, true);
          if (st.replica.counters && std::holds_alternative<append_cmd>(cmd))
            st.replica.counters->append_requests.fetch_add(
              1, std::memory_order_relaxed);
          auto within = std::chrono::milliseconds{st.replica.answer_within_ms};
          st.pending.emplace(r.index,
                             pending_write{r.term, self->make_response_promise(),
                                           self->clock().now() + within});
          arm_expiry(self, within);
          return caf::delegated<command_result>{};
        }
        case raft::propose_status::not_leader:
          advertise(self, false);
          return not_leader_error(r.leader);
        case raft::propose_status::overloaded:
          return make_error(errc::overloaded, "too many uncommitted commands");
        default:
          return make_error(errc::unavailable,
                            "the store's leadership is moving");
      }
    },
    // A gateway worker (through the store manager) asks for a read. It is
    // served once a quorum confirmed this leader and the state machine
    // caught up with the commit index of that moment (read index).
    [self](read_atom, query& q) -> caf::result<query_result> {
      auto& st = self->state;
      if (st.stop_reason)
        return make_error(errc::unavailable, "the store is stopping");
      touch(self);
      if (st.reads.size() >= st.limits.read_queue_max)
        return make_error(errc::overloaded, "the store's read queue is full");
      auto seq = ++st.next_ask;
      auto shared = std::make_shared<query>(std::move(q));
      auto confirmed = [self, seq, shared](caf::expected<uint64_t> index) {
        auto rp = take(self->state.indexing, seq);
        if (!rp)
          return; // answered by stop_writer
        if (!index) {
          // Leadership lost before a quorum confirmed it: name the leader
          // this replica knows now.
          advertise(self, false);
          rp->deliver(
            not_leader_error(raft::status_of(self->state.raft).leader));
          return;
        }
        self->state.reads.push_back(
          pending_read{*index, std::move(*shared), std::move(*rp)});
        release_reads(self);
      };
      // The promise goes in first: a lone leader confirms at once, inside
      // read_index.
      st.indexing.emplace(seq, self->make_response_promise());
      if (raft::read_index(self, st.raft, std::move(confirmed))) {
        advertise(self, true);
      } else if (auto rp = take(st.indexing, seq)) {
        // Not the leader: name the one this replica knows.
        advertise(self, false);
        rp->deliver(not_leader_error(raft::status_of(st.raft).leader));
      }
      return caf::delegated<query_result>{};
    },
    // The IO job of the apply transaction is done: answer the commands this
    // replica proposed, tell the hub, start the next transaction.
    [self](done_atom, uint64_t first, std::vector<command_result>& results,
           std::vector<uint64_t>& terms, uint64_t applied, std::string& failure,
           bool failed, bool durable, event_batch& events) {
      auto& st = self->state;
      st.applying = false;
      if (failed) {
        // Committed entries must apply in order: start over from the disk
        // (the supervisor restarts the group; the log replays).
        // What waits is answered first: requests sent straight to this
        // writer have no router to time them out.
        log_error("store " + st.replica.group + ": apply failed: " + failure);
        stop_writer(self,
                    make_error(errc::internal_error, "apply failed: " + failure));
        return;
      }
      st.applied = applied;
      if (durable) {
        st.unsynced_entries = 0;
        st.unsynced_bytes = 0;
        self->send(self, raft::compact_atom::value, applied);
      }
      auto skipped = terms.size() - results.size();
      uint64_t appended = 0;
      for (size_t i = 0; i < results.size(); ++i) {
        auto index = first + i;
        auto p = st.pending.find(index);
        if (p == st.pending.end())
          continue;
        if (p->second.term == terms[skipped + i]) {
          if (results[i].code == result_code::ok && results[i].appended > 0)
            appended += static_cast<uint64_t>(results[i].appended);
          p->second.rp.deliver(std::move(results[i]));
        }
        else
          p->second.rp.deliver(make_error(errc::unavailable,
                                          "a new leader replaced this command "
                                          "before it committed; nothing was "
                                          "written"));
        st.pending.erase(p);
      }
      // Proposals at or below the applied index that no batch answered were
      // replaced by entries of an earlier life.
      while (!st.pending.empty() && st.pending.begin()->first <= applied) {
        st.pending.begin()->second.rp.deliver(
          make_error(errc::unavailable, "the command was not written"));
        st.pending.erase(st.pending.begin());
      }
      if (events && !events->empty()) {
        if (st.replica.observer)
          self->send(st.replica.observer, catalog_atom_v, events);
        if (st.hub)
          self->send(st.hub, appended_atom_v, std::move(events));
      }
      if (st.replica.counters) {
        st.replica.counters->appended_events.fetch_add(
          appended, std::memory_order_relaxed);
        publish_figures(self);
      }
      release_reads(self);
      if (st.stop_reason) {
        self->quit(st.stop_reason);
        return;
      }
      start_apply(self);
    },
    // Sent by the writer to itself (arm_expiry) while writes are pending.
    // Answers `timeout` those proposed more than answer_within_ms ago: their
    // entries may still commit (a client retries with the same event ids),
    // but nobody waits for them any more.
    [self](deadline_atom) {
      auto& st = self->state;
      st.expiry_armed = false;
      auto now = self->clock().now();
      auto next = caf::actor_clock::time_point::max();
      for (auto i = st.pending.begin(); i != st.pending.end();) {
        if (i->second.deadline > now) {
          next = std::min(next, i->second.deadline);
          ++i;
          continue;
        }
        i->second.rp.deliver(make_error(errc::timeout,
                                        "no answer from the store's leader in "
                                        "time; the outcome is unknown"));
        i = st.pending.erase(i);
      }
      if (!st.pending.empty())
        arm_expiry(self, next - now);
    },
    // Sent by the writer to itself `hibernate_after_ms` after activity. A
    // store idle that long closes its connections in a job (never here);
    // one that was busy meanwhile looks again later.
    [self](hibernate_atom) {
      auto& st = self->state;
      st.hibernate_armed = false;
      if (st.hibernating || st.stop_reason)
        return;
      auto after = std::chrono::milliseconds{st.limits.hibernate_after_ms};
      auto idle = self->clock().now() - st.last_active;
      bool busy = st.applying || !st.committed.empty() || !st.pending.empty()
                  || !st.reads.empty() || !st.indexing.empty();
      if (busy || idle < after) {
        arm_hibernation(
          self, busy ? after
                     : std::chrono::duration_cast<std::chrono::milliseconds>(
                         after - idle)
                         + std::chrono::milliseconds{1});
        return;
      }
      st.hibernating = true;
      auto files = st.files;
      auto group = st.replica.group;
      st.exec->try_submit([files, group] {
        try {
          files->hibernate();
        } catch (const std::exception& e) {
          log_error("store " + group + ": hibernating: " + e.what());
        }
      });
    },
    // The store manager tells us the hub and the reader after each start.
    [self](wire_atom, caf::actor& hub, caf::actor& reader) {
      self->state.hub = std::move(hub);
      self->state.reader = std::move(reader);
      release_reads(self);
    },
  };
  // The consensus's own handlers: peers' Raft messages (through the store
  // manager), its timer and IO completions, and cluster_status's and the
  // membership reconciler's group_status, conf and transfer requests.
  return own.or_else(consensus);
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
        r = rd.open(files->db_path).run(*q);
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
                              actors::executor& exec, store_group_limits limits,
                              replica_config replica) {
  return sys.spawn(store_writer, std::move(files), &exec, limits,
                   std::move(replica));
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
                             replica_config replica, caf::actor observer) {
  actors::supervisor_config cfg;
  cfg.children.emplace_back([files, &exec, limits,
                             replica](caf::actor_system& s) {
    return spawn_store_writer(s, files, exec, limits, replica);
  });
  cfg.children.emplace_back([files, &exec, limits](caf::actor_system& s) {
    return spawn_store_reader(s, files, exec, limits);
  });
  cfg.children.emplace_back([sub_limits, replica](caf::actor_system& s) {
    return spawn_subscription_hub(s, sub_limits, replica.counters);
  });
  return actors::spawn_supervisor(sys, std::move(cfg), std::move(observer));
}

} // namespace cxesdb::stores
