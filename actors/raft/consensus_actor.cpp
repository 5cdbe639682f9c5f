#include "actors/raft/consensus_actor.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "actors/assert.hpp"
#include "actors/raft/codec.hpp"
#include "actors/raft/sqlite_storage.hpp"

namespace cxesdb::actors::raft {

namespace {

using self_ptr = caf::stateful_actor<consensus_state>*;

/// What an executor job leaves for the actor; written by the job before it
/// sends its completion message, read by the actor after receiving it.
struct job_slot {
  std::shared_ptr<sqlite_storage> storage;
  initial_state init;
  std::optional<std::string> error;
};

void pump(self_ptr self);

void send_message(self_ptr self, const message& m) {
  auto& st = self->state;
  if (st.cfg.transport) {
    self->send(st.cfg.transport, raft_msg_atom::value, st.cfg.group,
               static_cast<uint64_t>(m.to), encode(m));
    return;
  }
  auto it = st.peers.find(m.to);
  if (it == st.peers.end() || !it->second)
    return; // unknown peer: Raft treats it as a lost message
  self->send(it->second, raft_msg_atom::value, encode(m));
}

/// Hands committed entries to the state machine and answers confirmed reads.
void apply_and_answer(self_ptr self, const ready& rd) {
  auto& st = self->state;
  if (!rd.committed.empty() && st.cfg.apply)
    st.cfg.apply(rd.committed);
  for (auto& r : rd.reads) {
    auto it = st.reads.find(r.request);
    if (it != st.reads.end()) {
      it->second.deliver(r.index);
      st.reads.erase(it);
    }
  }
  for (auto req : rd.failed_reads) {
    auto it = st.reads.find(req);
    if (it != st.reads.end()) {
      it->second.deliver(
        caf::make_error(caf::sec::runtime_error, "leadership lost"));
      st.reads.erase(it);
    }
  }
}

/// Does, before `rd` is persisted, what does not wait for the disk:
/// - its committed entries are durable already (the core hands out entries
///   up to its stable index only), so they apply now, overlapping the
///   persist of the new entries (group commit keeps both stages busy);
/// - confirmed reads are answered;
/// - a leader's appends and heartbeats leave now, so the followers write in
///   parallel with the leader (Raft thesis 10.2.1). The leader counts
///   itself towards a commit only once its own copy is durable, and its
///   term and vote were made durable before its vote requests left.
/// Everything else (votes, answers to the leader) waits for the persist.
/// A snapshot install is never split: it replaces the state machine first.
void handle_early(self_ptr self, ready& rd) {
  auto& st = self->state;
  if (rd.snap)
    return;
  apply_and_answer(self, rd);
  rd.reads.clear();
  rd.failed_reads.clear();
  if (st.core->role() == role::leader) {
    // Keeps the messages that wait in front, in their order.
    auto now = std::stable_partition(
      rd.messages.begin(), rd.messages.end(), [](const message& m) {
        return m.type != message_type::append
               && m.type != message_type::heartbeat;
      });
    for (auto i = now; i != rd.messages.end(); ++i)
      send_message(self, *i);
    rd.messages.erase(now, rd.messages.end());
  }
  st.handled_early = true;
}

/// Whether `rd` needs no disk write of its own: nothing but the commit
/// index moved. Raft does not need the commit index durable (a restarted
/// server learns it again), so it is saved with the next batch that writes
/// anyway instead of costing an fsync per commit.
bool commit_only(const consensus_state& st, const ready& rd) {
  return rd.hard && rd.entries.empty() && !rd.snap
         && rd.hard->term == st.saved_hard.term
         && rd.hard->vote == st.saved_hard.vote;
}

/// Sends, applies and advances a batch whose durable part is on disk.
void finish(self_ptr self, const ready& rd) {
  auto& st = self->state;
  for (auto& m : rd.messages)
    send_message(self, m);
  if (rd.snap && rd.snap_install && st.cfg.restore)
    st.cfg.restore(*rd.snap);
  if (!std::exchange(st.handled_early, false))
    apply_and_answer(self, rd);
  st.core->advance(rd);
  auto& c = *st.core;
  if (st.cfg.take_snapshot
      && c.applied_index() >= c.snapshot_index() + st.cfg.compact_every_entries)
    c.compact(st.cfg.take_snapshot()); // persisted with the next batch
}

/// Hands the in-flight batch to the executor; false when it is full.
bool submit(self_ptr self) {
  auto& st = self->state;
  CXESDB_ASSERT(st.in_flight && !st.submitted);
  auto slot = std::make_shared<job_slot>();
  auto storage = st.storage;
  auto rd = st.in_flight;
  auto seq = ++st.persist_seq;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto ok = st.exec->try_submit([storage, rd, slot, me, seq] {
    slot->error = storage->save(*rd);
    caf::anon_send(me, persisted_atom::value, seq,
                   slot->error ? *slot->error : std::string{});
  });
  st.submitted = ok;
  return ok;
}

/// Whether the core needs its timer. A leader that is the group's only
/// member has no election to time, nobody to send heartbeats to and no
/// quorum to check: a node's mostly idle single-replica stores cost no
/// timer wake-ups. Anything that changes that (a membership change, a
/// refused persist) goes through `pump`, which starts the timer again.
bool needs_ticks(const consensus_state& st) {
  if (!st.core || (st.in_flight && !st.submitted))
    return true;
  auto& c = *st.core;
  auto& conf = c.conf();
  bool alone = conf.voters.size() == 1 && conf.voters[0] == st.cfg.core.id
               && conf.learners.empty();
  return !alone || c.role() != role::leader;
}

void schedule_tick(self_ptr self) {
  auto& st = self->state;
  st.ticking = true;
  self->delayed_send(self, std::chrono::milliseconds(st.cfg.tick_interval_ms),
                     raft_tick_atom::value);
}

// pump: called after every input to the core (message, tick, proposal,
// completed persist). Starts the next persist when none is running; must
// not block: the SQLite work runs on the executor.
void pump(self_ptr self) {
  auto& st = self->state;
  if (!st.ticking && needs_ticks(st))
    schedule_tick(self);
  if (!st.core || st.in_flight)
    return;
  while (st.core->has_ready()) {
    auto rd = std::make_shared<ready>(st.core->get_ready());
    if (rd->needs_persist() && !commit_only(st, *rd)) {
      handle_early(self, *rd);
      st.in_flight = rd;
      submit(self); // a refusal is retried on the next tick
      return;
    }
    finish(self, *rd);
  }
}

void start_load(self_ptr self) {
  auto& cfg = self->state.cfg;
  auto slot = std::make_shared<job_slot>();
  caf::actor me = caf::actor_cast<caf::actor>(self);
  auto path = cfg.db_path;
  auto voters = cfg.initial_voters;
  auto ok = self->state.exec->try_submit([slot, me, path, voters] {
    std::string err;
    auto s = sqlite_storage::open(path, err);
    if (!s) {
      slot->error = err;
    } else {
      if (!voters.empty() && s->empty()) {
        // Bootstrap: every initial voter starts from the same snapshot at
        // 1/1 holding the membership.
        ready boot;
        boot.snap = snapshot{};
        boot.snap->meta.index = 1;
        boot.snap->meta.term = 1;
        boot.snap->meta.conf.voters = voters;
        std::sort(boot.snap->meta.conf.voters.begin(),
                  boot.snap->meta.conf.voters.end());
        boot.snap_install = true;
        boot.hard = hard_state{1, no_node, 1};
        slot->error = s->save(boot);
      }
      if (!slot->error)
        slot->error = s->load(slot->init);
      slot->storage = std::shared_ptr<sqlite_storage>(s.release());
    }
    caf::anon_send(me, loaded_atom::value);
  });
  if (!ok) {
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "executor refused the load job"));
    return;
  }
  self->state.load_slot = slot;
}

} // namespace

caf::behavior consensus_actor(self_ptr self, consensus_config cfg,
                              executor* exec,
                              std::map<node_id, caf::actor> peers) {
  CXESDB_ASSERT(exec != nullptr);
  CXESDB_ASSERT(cfg.core.id != no_node);
  CXESDB_ASSERT(cfg.tick_interval_ms > 0);
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.exec = exec;
  st.peers = std::move(peers);
  start_load(self);
  schedule_tick(self);
  return {
    // Sent by the load job once the database is open and read. Builds the
    // core; until then peers' messages are dropped (Raft tolerates loss).
    [=](loaded_atom) {
      auto& st = self->state;
      auto slot = std::static_pointer_cast<job_slot>(st.load_slot);
      st.load_slot.reset();
      if (slot->error) {
        self->quit(caf::make_error(caf::sec::runtime_error,
                                   "raft storage: " + *slot->error));
        return;
      }
      st.storage = slot->storage;
      st.saved_hard = slot->init.hard;
      auto seed = std::make_shared<uint64_t>(st.cfg.seed * 2654435761u
                                             + st.cfg.core.id);
      st.core = std::make_unique<core>(st.cfg.core, slot->init, [seed] {
        uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
      });
      // The only voter need not wait for an election timeout.
      auto& conf = st.core->conf();
      if ((conf.voters.size() == 1 && conf.voters[0] == st.cfg.core.id)
          || (st.cfg.campaign_on_load && conf.is_voter(st.cfg.core.id)))
        st.core->campaign();
      pump(self);
    },
    // Sent by a persist job when the batch is durable (or failed). Only now
    // may the batch's messages leave. A disk error stops the actor: its
    // supervisor restarts it from what the disk holds.
    [=](persisted_atom, uint64_t seq, const std::string& error) {
      auto& st = self->state;
      CXESDB_ASSERT(st.in_flight && st.submitted && seq == st.persist_seq);
      if (!error.empty()) {
        self->quit(caf::make_error(caf::sec::runtime_error,
                                   "raft persist: " + error));
        return;
      }
      auto rd = std::move(st.in_flight);
      st.in_flight.reset();
      st.submitted = false;
      ++st.persists;
      if (rd->hard)
        st.saved_hard = *rd->hard;
      finish(self, *rd);
      pump(self);
    },
    // Sent by the actor to itself every tick_interval_ms while it needs
    // ticks. Drives election and heartbeat timeouts and retries a batch the
    // executor refused.
    [=](raft_tick_atom) {
      auto& st = self->state;
      st.ticking = false;
      if (needs_ticks(st))
        schedule_tick(self);
      if (!st.core)
        return;
      st.core->tick();
      if (st.in_flight && !st.submitted)
        submit(self);
      pump(self);
    },
    // Sent by peers' consensus actors. Malformed bytes or messages for
    // another node are dropped, never trusted.
    [=](raft_msg_atom, const std::string& bytes) {
      auto& st = self->state;
      if (!st.core)
        return;
      auto m = decode_message(bytes);
      if (!m || m->to != st.cfg.core.id || m->from == no_node
          || m->from == st.cfg.core.id)
        return;
      st.core->step(*m);
      pump(self);
    },
    // Sent by the store (or a gateway) to append a command. Answers at once
    // with the index and term it will have if committed; the apply
    // callback reports the commit.
    [=](propose_atom, std::string& data) {
      auto& st = self->state;
      propose_result r;
      if (st.core) {
        r = st.core->propose(std::move(data));
        pump(self);
      }
      return caf::make_message(static_cast<uint64_t>(r.status), r.index,
                               r.term, r.leader);
    },
    // Sent by the store for a linearizable read; answered with the index to
    // wait for once a quorum confirmed this leader.
    [=](read_index_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (!st.core)
        return caf::make_error(caf::sec::runtime_error, "not loaded");
      auto req = ++st.next_read;
      if (!st.core->read_index(req))
        return caf::make_error(caf::sec::runtime_error, "not leader");
      auto rp = self->make_response_promise();
      st.reads.emplace(req, rp);
      pump(self);
      return rp;
    },
    // Sent by the store group, the registry or tests; a read of the core's
    // state without side effects.
    [=](status_atom) {
      auto& st = self->state;
      if (!st.core)
        return caf::make_message(uint64_t{0}, uint64_t{0}, uint64_t{0},
                                 uint64_t{0}, uint64_t{0});
      auto& c = *st.core;
      return caf::make_message(c.leader(), c.term(), c.commit_index(),
                               c.applied_index(),
                               static_cast<uint64_t>(c.role()));
    },
    // Sent by the store's replica (reconciling membership with placement)
    // and by cluster_status. A read of the core's state.
    [=](group_status_atom) {
      auto& st = self->state;
      group_status gs;
      gs.id = st.cfg.core.id;
      if (!st.core)
        return gs;
      auto& c = *st.core;
      gs.leader = c.leader();
      gs.term = c.term();
      gs.commit = c.commit_index();
      gs.applied = c.applied_index();
      gs.last_index = c.last_index();
      gs.role = c.role();
      gs.conf = c.conf();
      if (c.role() == role::leader) {
        for (auto id : gs.conf.voters)
          if (auto pr = c.progress_of(id))
            gs.match[id] = pr->match;
        for (auto id : gs.conf.learners)
          if (auto pr = c.progress_of(id))
            gs.match[id] = pr->match;
        gs.conf_pending = c.conf_change_pending();
      }
      return gs;
    },
    // Sent by the store's replica on the leader to move the membership one
    // server at a time. Answers like a proposal.
    [=](conf_atom, uint8_t op, uint64_t node) {
      auto& st = self->state;
      propose_result r;
      if (st.core && op >= static_cast<uint8_t>(conf_op::add_voter)
          && op <= static_cast<uint8_t>(conf_op::remove)) {
        conf_change cc;
        cc.op = static_cast<conf_op>(op);
        cc.node = node;
        r = st.core->propose_conf_change(cc);
        pump(self);
      }
      return caf::make_message(static_cast<uint64_t>(r.status), r.index,
                               r.term, r.leader);
    },
    // Sent by the store's replica on the leader before it removes itself.
    [=](transfer_atom, uint64_t node) {
      auto& st = self->state;
      bool ok = st.core && st.core->transfer_leader(node);
      pump(self);
      return ok;
    },
    // Sent by the store group when the membership or a peer's address
    // changes.
    [=](peers_atom, uint64_t id, caf::actor handle) {
      auto& st = self->state;
      if (handle)
        st.peers[id] = std::move(handle);
      else
        st.peers.erase(id);
    },
  };
}

} // namespace cxesdb::actors::raft
