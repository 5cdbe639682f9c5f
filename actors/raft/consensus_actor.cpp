#include "actors/raft/consensus_actor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <utility>

#include "actors/assert.hpp"
#include "actors/log.hpp"
#include "actors/raft/codec.hpp"
#include "actors/raft/node_log.hpp"
#include "actors/raft/snapshot_chunk.hpp"
#include "actors/raft/sqlite_storage.hpp"

namespace cxesdb::actors::raft {

namespace {

/// The actor a group's consensus runs in, and the consensus's state there:
/// a consensus actor of its own, or a store's replica actor that embeds it.
struct host {
  caf::event_based_actor* actor;
  consensus_state* state;
};

using self_ptr = host;

/// The consensus cannot go on (a disk error): the host decides how to stop.
void fail(self_ptr self, caf::error reason) {
  auto& st = *self.state;
  if (st.cfg.on_fail)
    st.cfg.on_fail(reason);
  else
    self.actor->quit(std::move(reason));
}

/// What an executor job leaves for the actor; written by the job before it
/// sends its completion message, read by the actor after receiving it.
struct job_slot {
  std::shared_ptr<sqlite_storage> storage;
  initial_state init;
  std::optional<std::string> error;
};

void pump(self_ptr self);

/// Sends bytes for peer `to` through the transport or the peers map.
void send_bytes(self_ptr self, node_id to, std::string bytes) {
  auto& st = *self.state;
  if (st.cfg.transport) {
    self.actor->send(st.cfg.transport, raft_msg_atom::value, st.cfg.group,
               static_cast<uint64_t>(to), std::move(bytes));
    return;
  }
  auto it = st.peers.find(to);
  if (it == st.peers.end() || !it->second)
    return; // unknown peer: Raft treats it as a lost message
  self.actor->send(it->second, raft_msg_atom::value, std::move(bytes));
}

void send_image(self_ptr self, const message& m);

void send_message(self_ptr self, const message& m) {
  if (m.type == message_type::snapshot && self.state->cfg.image.make) {
    send_image(self, m);
    return;
  }
  send_bytes(self, m.to, encode(m));
}

// -- compaction into an image -------------------------------------------------

/// Compacts the log up to what the state machine holds durably, less a tail
/// of at most `compact_keep_entries` entries and `compact_keep_bytes` bytes.
/// Only between batches (the core allows compaction only then); the new
/// snapshot is persisted with the next batch.
void maybe_compact(self_ptr self) {
  auto& st = *self.state;
  if (!st.cfg.image.make || !st.core || st.in_flight
      || st.durable <= st.compacted_for)
    return;
  st.compacted_for = st.durable;
  auto& c = *st.core;
  auto index = std::min(st.durable, c.applied_index());
  uint64_t kept = 0;
  uint64_t bytes = 0;
  while (index > c.snapshot_index() && kept < st.cfg.compact_keep_entries) {
    bytes += c.entry_at(index).data.size();
    if (bytes > st.cfg.compact_keep_bytes)
      break;
    --index;
    ++kept;
  }
  // A leader keeps what its progressing followers still need (one
  // receiving an image, the entries after the image; one catching up, what
  // it has not matched), up to `compact_pin_bytes_max`. A stalled follower
  // pins nothing: it gets an image when it is back.
  if (c.role() == role::leader) {
    auto pin = index;
    for (auto& [id, fp] : st.follower_progress) {
      auto pr = c.progress_of(id);
      if (!pr || st.ticks - fp.second > st.cfg.stall_ticks)
        continue;
      auto needs = std::max(pr->match, c.snapshot_index());
      if (auto o = st.images_out.find(id); o != st.images_out.end())
        needs = std::max(needs, o->second.header.snap->meta.index);
      pin = std::min(pin, needs);
    }
    uint64_t pinned = 0;
    for (auto i = pin + 1; i <= index && pinned <= st.cfg.compact_pin_bytes_max;
         ++i)
      pinned += c.entry_at(i).data.size();
    if (pinned <= st.cfg.compact_pin_bytes_max)
      index = pin;
  }
  if (index > c.snapshot_index())
    c.compact(index, std::string{});
}

/// Notes, on a leader, which followers made progress since the last tick
/// (for the compaction pins).
void note_progress(self_ptr self) {
  auto& st = *self.state;
  if (!st.core || st.core->role() != role::leader) {
    st.follower_progress.clear();
    return;
  }
  auto& c = *st.core;
  for (auto* ids : {&c.conf().voters, &c.conf().learners})
    for (auto id : *ids) {
      auto pr = c.progress_of(id);
      if (!pr || id == st.cfg.core.id)
        continue;
      auto [it, fresh] = st.follower_progress.try_emplace(
        id, std::make_pair(pr->match, st.ticks));
      if (!fresh && pr->match > it->second.first)
        it->second = std::make_pair(pr->match, st.ticks);
    }
}

// -- snapshot images, leader side --------------------------------------------

/// One file per snapshot index: a read of an older image in flight keeps
/// reading its own file (or fails) while a newer one is written.
std::string image_out_path(const consensus_state& st, uint64_t index) {
  return st.cfg.image.dir + "/snapshot-out-" + std::to_string(index) + ".img";
}

/// Removes the image files of this replica except `keep` (none: all).
void remove_images(const std::string& dir, const std::string& keep) {
  std::error_code ec;
  for (auto& f : std::filesystem::directory_iterator(dir, ec)) {
    auto name = f.path().filename().string();
    if ((name.rfind("snapshot-out-", 0) == 0 || name == "snapshot-in.part")
        && f.path().string() != keep)
      std::filesystem::remove(f.path(), ec);
  }
}

std::string image_in_path(const consensus_state& st) {
  return st.cfg.image.dir + "/snapshot-in.part";
}

/// Reads the next chunk for follower `to` on the executor; its message
/// (`image_read_atom`) sends it. One read per follower at a time.
void read_chunk(self_ptr self, node_id to) {
  auto& st = *self.state;
  auto it = st.images_out.find(to);
  if (it == st.images_out.end() || it->second.reading || st.image_making
      || st.image_index != it->second.header.snap->meta.index)
    return;
  auto& out = it->second;
  auto offset = std::min(out.offset, st.image_bytes);
  auto n = std::min<uint64_t>(st.cfg.snapshot_chunk_bytes,
                              st.image_bytes - offset);
  auto index = st.image_index;
  auto path = image_out_path(st, index);
  caf::actor me = caf::actor_cast<caf::actor>(self.actor);
  out.reading = st.exec->try_submit([me, path, index, to, offset, n] {
    std::string data(n, '\0');
    std::string error;
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0 || ::pread(fd, data.data(), n, static_cast<off_t>(offset))
                    != static_cast<ssize_t>(n))
      error = "cannot read " + path;
    if (fd >= 0)
      ::close(fd);
    caf::anon_send(me, image_read_atom::value, index, uint64_t{to}, offset,
                   std::move(data), std::move(error));
  });
}

/// The core wants follower `m.to` to install its snapshot. Starts (or, for
/// the same snapshot, resumes at the follower's last acknowledged offset)
/// the transfer of the image, making the image file first when this node
/// has none for that snapshot. A resend of the same InstallSnapshot while a
/// chunk is on its way resends that chunk: the core resends after an
/// election timeout without an answer.
void send_image(self_ptr self, const message& m) {
  auto& st = *self.state;
  CXESDB_ASSERT(m.snap != nullptr);
  auto index = m.snap->meta.index;
  auto& out = st.images_out[m.to];
  bool same = out.header.snap && out.header.snap->meta.index == index
              && out.header.snap->meta.term == m.snap->meta.term;
  if (!same)
    out.offset = 0;
  out.header = m;
  out.reading = same && out.reading;
  if (st.image_index == index || st.image_making) {
    read_chunk(self, m.to);
    return;
  }
  st.image_making = true;
  auto make = st.cfg.image.make;
  auto path = image_out_path(st, index);
  auto dir = st.cfg.image.dir;
  caf::actor me = caf::actor_cast<caf::actor>(self.actor);
  st.exec->submit([me, make, path, dir, index] {
    remove_images(dir, std::string{});
    auto error = make(index, path);
    std::error_code ec;
    uint64_t bytes = error ? 0 : std::filesystem::file_size(path, ec);
    if (ec)
      error = ec.message();
    caf::anon_send(me, image_made_atom::value, index, bytes,
                   error ? *error : std::string{});
  });
}

// -- snapshot images, follower side ------------------------------------------

void ack_chunk(self_ptr self, const message& header, uint64_t next,
               bool done) {
  snapshot_ack a;
  a.from = self.state->cfg.core.id;
  a.to = header.from;
  a.index = header.snap->meta.index;
  a.term = header.snap->meta.term;
  a.next_offset = next;
  a.done = done;
  send_bytes(self, header.from, encode(a));
}

/// A chunk of the leader's image. Written at the end of the part file when
/// it continues it; otherwise answered with the offset the file has, so
/// that the leader resumes there. A chunk of another snapshot starts the
/// file over. While a write is in flight chunks are dropped (the leader
/// waits for the ack, or resends after a timeout).
void handle_chunk(self_ptr self, snapshot_chunk& c) {
  auto& st = *self.state;
  auto& in = st.incoming;
  auto& meta = c.header.snap->meta;
  if (in.writing)
    return;
  if (in.index != meta.index || in.term != meta.term || in.total != c.total) {
    if (c.offset != 0) {
      ack_chunk(self, c.header, 0, false);
      return;
    }
    in = image_in{meta.index, meta.term, c.total, 0, false};
  }
  if (c.offset != in.received) {
    ack_chunk(self, c.header, in.received, false);
    return;
  }
  in.writing = true;
  auto path = image_in_path(st);
  auto install = st.cfg.image.install;
  auto last = c.offset + c.data.size() == c.total;
  auto header = std::make_shared<message>(std::move(c.header));
  auto data = std::make_shared<std::string>(std::move(c.data));
  auto offset = c.offset;
  caf::actor me = caf::actor_cast<caf::actor>(self.actor);
  st.exec->submit([me, path, install, last, header, data, offset] {
    std::string error;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd < 0
        || ::ftruncate(fd, static_cast<off_t>(offset)) != 0
        || ::pwrite(fd, data->data(), data->size(), static_cast<off_t>(offset))
             != static_cast<ssize_t>(data->size())
        || (last && ::fdatasync(fd) != 0))
      error = "cannot write " + path;
    if (fd >= 0)
      ::close(fd);
    if (error.empty() && last) {
      if (auto e = install(header->snap->meta.index, path))
        error = *e;
      std::error_code ec;
      std::filesystem::remove(path, ec); // (a store's install renamed it)
    }
    caf::anon_send(me, image_wrote_atom::value, encode(*header),
                   offset + data->size(), last, std::move(error));
  });
}


/// Hands committed entries to the state machine and answers confirmed reads.
void apply_and_answer(self_ptr self, const ready& rd) {
  auto& st = *self.state;
  if (!rd.committed.empty() && st.cfg.apply)
    st.cfg.apply(rd.committed);
  for (auto& r : rd.reads) {
    auto it = st.reads.find(r.request);
    if (it != st.reads.end()) {
      auto done = std::move(it->second);
      st.reads.erase(it);
      done(r.index);
    }
  }
  for (auto req : rd.failed_reads) {
    auto it = st.reads.find(req);
    if (it != st.reads.end()) {
      auto done = std::move(it->second);
      st.reads.erase(it);
      done(caf::make_error(caf::sec::runtime_error, "leadership lost"));
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
  auto& st = *self.state;
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
  auto& st = *self.state;
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
  maybe_compact(self);
}

/// Hands the in-flight batch to the executor; false when it is full.
bool submit(self_ptr self) {
  auto& st = *self.state;
  CXESDB_ASSERT(st.in_flight && !st.submitted);
  auto slot = std::make_shared<job_slot>();
  auto storage = st.storage;
  auto rd = st.in_flight;
  auto seq = ++st.persist_seq;
  caf::actor me = caf::actor_cast<caf::actor>(self.actor);
  if (st.cfg.log) {
    // The node log batches it with every group's saves; never refused.
    st.cfg.log->submit(st.cfg.group, rd,
                       [me, seq](const std::optional<std::string>& err) {
                         caf::anon_send(me, persisted_atom::value, seq,
                                        err ? *err : std::string{});
                       });
    st.submitted = true;
    return true;
  }
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
  auto& st = *self.state;
  st.ticking = true;
  self.actor->delayed_send(self.actor, std::chrono::milliseconds(st.cfg.tick_interval_ms),
                     raft_tick_atom::value);
}

// pump: called after every input to the core (message, tick, proposal,
// completed persist). Starts the next persist when none is running; must
// not block: the SQLite work runs on the executor.
void pump(self_ptr self) {
  auto& st = *self.state;
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

/// The first state of a new group's initial voters: the same snapshot at
/// 1/1 holding the membership on every one of them.
ready bootstrap(std::vector<node_id> voters) {
  ready boot;
  boot.snap = snapshot{};
  boot.snap->meta.index = 1;
  boot.snap->meta.term = 1;
  boot.snap->meta.conf.voters = std::move(voters);
  std::sort(boot.snap->meta.conf.voters.begin(),
            boot.snap->meta.conf.voters.end());
  boot.snap_install = true;
  boot.hard = hard_state{1, no_node, 1};
  return boot;
}

bool never_saved(const initial_state& st) {
  return st.hard.term == 0 && st.snap.meta.index == 0 && st.entries.empty()
         && st.snap.meta.conf.voters.empty();
}

/// Moves a group's SQLite log at `path` (from before the node log) into
/// `log` as one record that replaces whatever the log had, then deletes
/// the database. Blocks: an executor job.
std::optional<std::string> import_sqlite_log(node_log& log,
                                             const std::string& group,
                                             const std::string& path) {
  std::string err;
  auto s = sqlite_storage::open(path, err);
  if (!s)
    return err;
  initial_state st;
  if (auto e = s->load(st))
    return e;
  s.reset();
  auto rd = std::make_shared<ready>();
  rd->hard = st.hard;
  rd->snap = st.snap;
  rd->snap_install = true;
  rd->entries = std::move(st.entries);
  std::promise<std::optional<std::string>> saved;
  log.submit(group, rd, [&saved](const std::optional<std::string>& e) {
    saved.set_value(e);
  });
  if (auto e = saved.get_future().get())
    return e;
  std::error_code ec;
  for (auto suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path + suffix, ec);
  log_info("raft group " + group + ": moved " + path + " into the node log");
  return std::nullopt;
}

/// Loads the group from the node log (bootstrapping a new group's voters)
/// and tells the actor.
void load_from_log(std::shared_ptr<node_log> log, std::string group,
                   std::vector<node_id> voters, caf::actor me,
                   std::shared_ptr<job_slot> slot) {
  log->load(group, [log, group, voters, me, slot](
                     initial_state st, const std::optional<std::string>& err) {
    // On the log's writer thread: must not block.
    slot->error = err;
    if (!err && !voters.empty() && never_saved(st)) {
      auto boot = std::make_shared<ready>(bootstrap(voters));
      st.hard = *boot->hard;
      st.snap = *boot->snap;
      // Queued before any save of the core, so durable before its votes.
      log->submit(group, boot, [](const std::optional<std::string>&) {});
    }
    slot->init = std::move(st);
    caf::anon_send(me, loaded_atom::value);
  });
}

void start_load(self_ptr self) {
  auto& cfg = self.state->cfg;
  auto slot = std::make_shared<job_slot>();
  caf::actor me = caf::actor_cast<caf::actor>(self.actor);
  auto path = cfg.db_path;
  auto voters = cfg.initial_voters;
  auto image_dir = cfg.image.dir;
  auto log = cfg.log;
  auto group = cfg.group;
  auto ok = self.state->exec->try_submit([slot, me, path, voters, image_dir,
                                          log, group] {
    // Images of an earlier life are stale: a transfer starts over.
    if (!image_dir.empty())
      remove_images(image_dir, std::string{});
    if (log) {
      std::error_code ec;
      if (!path.empty() && std::filesystem::exists(path, ec)) {
        if (auto e = import_sqlite_log(*log, group, path)) {
          slot->error = "importing " + path + ": " + *e;
          caf::anon_send(me, loaded_atom::value);
          return;
        }
      }
      load_from_log(log, group, voters, me, slot);
      return;
    }
    std::string err;
    auto s = sqlite_storage::open(path, err);
    if (!s) {
      slot->error = err;
    } else {
      if (!voters.empty() && s->empty())
        slot->error = s->save(bootstrap(voters));
      if (!slot->error)
        slot->error = s->load(slot->init);
      slot->storage = std::shared_ptr<sqlite_storage>(s.release());
    }
    caf::anon_send(me, loaded_atom::value);
  });
  if (!ok) {
    fail(self, caf::make_error(caf::sec::runtime_error,
                               "executor refused the load job"));
    return;
  }
  self.state->load_slot = slot;
}

} // namespace

propose_result propose(caf::event_based_actor* actor, consensus_state& st,
                       std::string data) {
  propose_result r;
  if (st.core) {
    r = st.core->propose(std::move(data));
    pump(host{actor, &st});
  }
  return r;
}

bool read_index(caf::event_based_actor* actor, consensus_state& st,
                read_index_fn done) {
  if (!st.core)
    return false;
  auto req = ++st.next_read;
  if (!st.core->read_index(req))
    return false;
  st.reads.emplace(req, std::move(done));
  pump(host{actor, &st});
  return true;
}

group_status status_of(const consensus_state& st) {
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
}

caf::behavior consensus_actor(caf::stateful_actor<consensus_state>* self,
                              consensus_config cfg, executor* exec,
                              std::map<node_id, caf::actor> peers) {
  return consensus_behavior(self, self->state, std::move(cfg), exec,
                            std::move(peers));
}

caf::behavior consensus_behavior(caf::event_based_actor* actor,
                                 consensus_state& state, consensus_config cfg,
                                 executor* exec,
                                 std::map<node_id, caf::actor> peers) {
  host self{actor, &state};
  CXESDB_ASSERT(exec != nullptr);
  CXESDB_ASSERT(cfg.core.id != no_node);
  CXESDB_ASSERT(!cfg.log || !cfg.group.empty());
  CXESDB_ASSERT(cfg.tick_interval_ms > 0);
  auto& st = *self.state;
  st.cfg = std::move(cfg);
  st.exec = exec;
  st.peers = std::move(peers);
  start_load(self);
  schedule_tick(self);
  return {
    // Sent by the load job once the database is open and read. Builds the
    // core; until then peers' messages are dropped (Raft tolerates loss).
    [=](loaded_atom) {
      auto& st = *self.state;
      auto slot = std::static_pointer_cast<job_slot>(st.load_slot);
      st.load_slot.reset();
      if (slot->error) {
        fail(self, caf::make_error(caf::sec::runtime_error,
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
      auto& st = *self.state;
      CXESDB_ASSERT(st.in_flight && st.submitted && seq == st.persist_seq);
      if (!error.empty()) {
        fail(self, caf::make_error(caf::sec::runtime_error,
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
      auto& st = *self.state;
      st.ticking = false;
      if (needs_ticks(st))
        schedule_tick(self);
      if (!st.core)
        return;
      ++st.ticks;
      note_progress(self);
      st.core->tick();
      if (st.in_flight && !st.submitted)
        submit(self);
      pump(self);
    },
    // Sent by peers' consensus actors: Raft messages, and the chunks of a
    // snapshot image and their acks. Malformed bytes or messages for
    // another node are dropped, never trusted.
    [=](raft_msg_atom, std::string& bytes) {
      auto& st = *self.state;
      if (!st.core || bytes.empty())
        return;
      auto tag = static_cast<uint8_t>(bytes[0]);
      if (tag == snapshot_chunk_tag) {
        auto c = decode_snapshot_chunk(bytes);
        if (c && st.cfg.image.install && c->header.to == st.cfg.core.id
            && c->header.from != no_node && c->header.from != st.cfg.core.id)
          handle_chunk(self, *c);
        return;
      }
      if (tag == snapshot_ack_tag) {
        auto a = decode_snapshot_ack(bytes);
        if (!a || a->to != st.cfg.core.id)
          return;
        auto it = st.images_out.find(a->from);
        if (it == st.images_out.end()
            || it->second.header.snap->meta.index != a->index
            || it->second.header.snap->meta.term != a->term)
          return;
        if (auto fp = st.follower_progress.find(a->from);
            fp != st.follower_progress.end())
          fp->second.second = st.ticks;
        if (a->done) {
          st.images_out.erase(it);
          ++st.images_sent;
          return;
        }
        it->second.offset = a->next_offset;
        read_chunk(self, a->from);
        return;
      }
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
      auto r = propose(self.actor, *self.state, std::move(data));
      return caf::make_message(static_cast<uint64_t>(r.status), r.index,
                               r.term, r.leader);
    },
    // Sent by the store for a linearizable read; answered with the index to
    // wait for once a quorum confirmed this leader.
    [=](read_index_atom) -> caf::result<uint64_t> {
      auto rp = self.actor->make_response_promise();
      auto done = [rp](caf::expected<uint64_t> index) mutable {
        if (index)
          rp.deliver(*index);
        else
          rp.deliver(index.error());
      };
      if (!read_index(self.actor, *self.state, std::move(done)))
        return caf::make_error(caf::sec::runtime_error, "not leader");
      return rp;
    },
    // Sent by the store group, the registry or tests; a read of the core's
    // state without side effects.
    [=](status_atom) {
      auto& st = *self.state;
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
    [=](group_status_atom) { return status_of(*self.state); },
    // Sent by the store's replica on the leader to move the membership one
    // server at a time. Answers like a proposal.
    [=](conf_atom, uint8_t op, uint64_t node) {
      auto& st = *self.state;
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
    // Sent by the owner of an image state machine (a store's writer) once
    // its database holds every entry up to `index` durably. The log is
    // compacted up to there, less the kept tail; never blocks.
    [=](compact_atom, uint64_t index) {
      auto& st = *self.state;
      st.durable = std::max(st.durable, index);
      maybe_compact(self);
      pump(self);
    },
    // Sent by the job that wrote this node's image of snapshot `index`.
    // Starts the chunks of every transfer waiting for it; on an error the
    // transfers wait for the core to resend its InstallSnapshot.
    [=](image_made_atom, uint64_t index, uint64_t bytes, std::string& error) {
      auto& st = *self.state;
      st.image_making = false;
      if (!error.empty()) {
        log_error("raft group " + st.cfg.group + ": snapshot image: " + error);
        st.image_index = 0;
        return;
      }
      log_info("raft group " + st.cfg.group + ": made an image of snapshot "
               + std::to_string(index) + " (" + std::to_string(bytes)
               + " bytes) for a follower behind the log");
      st.image_index = index;
      st.image_bytes = bytes;
      for (auto& kv : st.images_out)
        if (kv.second.header.snap->meta.index == index)
          read_chunk(self, kv.first);
    },
    // Sent by the job that read a chunk of the image for follower `to`.
    // Sends it unless the transfer moved on meanwhile.
    [=](image_read_atom, uint64_t index, uint64_t to, uint64_t offset,
        std::string& data, std::string& error) {
      auto& st = *self.state;
      auto it = st.images_out.find(to);
      if (it == st.images_out.end())
        return;
      auto& out = it->second;
      out.reading = false;
      if (!error.empty() || index != st.image_index
          || out.header.snap->meta.index != index) {
        if (!error.empty())
          log_error("raft group " + st.cfg.group + ": " + error);
        return; // resumed when the core resends
      }
      snapshot_chunk c;
      c.header = out.header;
      c.offset = offset;
      c.total = st.image_bytes;
      c.data = std::move(data);
      send_bytes(self, static_cast<node_id>(to), encode(c));
    },
    // Sent by the job that wrote a received chunk (and, after the last one,
    // synced the file and installed the image). Acknowledges it; once the
    // image is in place, the core receives the InstallSnapshot itself. A
    // failed write or install starts the transfer over.
    [=](image_wrote_atom, std::string& header_bytes, uint64_t received,
        bool last, std::string& error) {
      auto& st = *self.state;
      auto header = decode_message(header_bytes);
      CXESDB_ASSERT(header && header->snap);
      st.incoming.writing = false;
      if (!error.empty()) {
        log_error("raft group " + st.cfg.group + ": snapshot image: " + error);
        st.incoming = image_in{};
        ack_chunk(self, *header, 0, false);
        return;
      }
      if (!last) {
        st.incoming.received = received;
        ack_chunk(self, *header, received, false);
        return;
      }
      log_info("raft group " + st.cfg.group + ": installed the leader's image"
               + " of snapshot " + std::to_string(header->snap->meta.index)
               + " (" + std::to_string(received) + " bytes)");
      st.incoming = image_in{};
      ++st.images_installed;
      ack_chunk(self, *header, received, true);
      if (st.core) {
        st.core->step(*header);
        pump(self);
      }
    },
    // Sent by the store's replica on the leader before it removes itself.
    [=](transfer_atom, uint64_t node) {
      auto& st = *self.state;
      bool ok = st.core && st.core->transfer_leader(node);
      pump(self);
      return ok;
    },
    // Sent by the store group when the membership or a peer's address
    // changes.
    [=](peers_atom, uint64_t id, caf::actor handle) {
      auto& st = *self.state;
      if (handle)
        st.peers[id] = std::move(handle);
      else
        st.peers.erase(id);
    },
  };
}

} // namespace cxesdb::actors::raft
