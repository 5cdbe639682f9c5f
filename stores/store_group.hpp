#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"

namespace cxesdb::actors {
class executor;
} // namespace cxesdb::actors

namespace cxesdb::actors::raft {
class node_log;
} // namespace cxesdb::actors::raft

namespace cxesdb::stores {

class local_leaders;
struct store_counters;
struct store_files;
struct subscription_limits;

/// The bounds of one store's actors.
struct store_group_limits {
  /// Commands waiting for the next transaction; beyond it appends are
  /// answered `overloaded`.
  size_t write_queue_max = 10000;

  /// Most commands in one transaction (one fsync).
  size_t batch_commands_max = 1000;

  /// Reads waiting for a free connection; beyond it reads are answered
  /// `overloaded`.
  size_t read_queue_max = 10000;

  /// Applied entries, or bytes of them, after which an apply transaction
  /// is synced (the database runs with synchronous=NORMAL) and the store's
  /// Raft log is compacted up to it: the log, in memory and in the node
  /// log, stays within about these bounds whatever the store's history.
  size_t compact_every_entries = 4096;
  size_t compact_every_bytes = 8u << 20;

  /// Entries kept in the log below a compaction point, for followers a
  /// little behind (raft::consensus_config::compact_keep_entries).
  size_t compact_keep_entries = 1000;

  /// Bytes of entries a leader keeps at most for a follower that is
  /// catching up (raft::consensus_config::compact_pin_bytes_max).
  size_t compact_pin_bytes = 256u << 20;

  /// Time without writes, reads or applies after which a store closes its
  /// SQLite connections (no descriptors, no page cache while idle); its
  /// next job opens what it needs. 0: never.
  uint64_t hibernate_after_ms = 10000;

  /// Bytes per chunk of a snapshot image sent to a follower.
  size_t snapshot_chunk_bytes = 1u << 20;
};

/// How one store's replica takes part in the store's Raft group.
struct replica_config {
  /// This node's id in every Raft group (derived from its name).
  uint64_t node = 0;
  /// The group's name: the store id.
  std::string group;
  /// Voters of a new group (bootstrap), used only when the replica has no
  /// Raft state yet; empty for a replica that joins an existing group.
  std::vector<uint64_t> initial_voters;
  /// Where the replica sends Raft messages for peers: the node's router,
  /// as `(raft_msg_atom, group, uint64 to, bytes)`.
  caf::actor transport;
  /// Real time per Raft tick.
  uint64_t tick_interval_ms = 100;
  static constexpr uint64_t tick_interval_ms_default = 100;
  /// Seeds the election-timeout randomness.
  uint64_t seed = 1;
  /// Campaigns at once when loaded: the ring's preferred replica, so that a
  /// new store has a leader without waiting for an election timeout and
  /// leaders spread like the ring.
  bool campaign_at_start = false;
  /// When set, also receives `(catalog_atom, event_batch)` for every
  /// applied transaction that wrote events (the catalog's follower).
  caf::actor observer;
  /// The node's Raft log, shared by every replica on the node; without it
  /// (tests) the replica keeps its log in its own `raft.db`.
  std::shared_ptr<actors::raft::node_log> log;
  /// When set, the writer puts itself in while it leads the group, so that
  /// the node's gateway workers send the store's requests straight to it.
  std::shared_ptr<local_leaders> leaders;
  /// A write not answered this long after it was proposed is answered
  /// `timeout` (its outcome unknown): a leader cut off from its followers
  /// never commits, and the requests sent straight to it have no router
  /// watching the time. The store's `timeout_ms` less a margin; 0: never.
  uint64_t answer_within_ms = 0;
  /// When set, the writer keeps the store's figures for /metrics here
  /// (stores/store_metrics.hpp).
  std::shared_ptr<store_counters> counters;
};

/// Spawns the actors of one store under a one-for-all supervisor and returns
/// the supervisor: a writer, the store's replica, which runs this node's
/// member of the store's Raft group itself (a proposal is a call, not a
/// message) and applies committed entries in group-committed transactions;
/// a reader, which serves queries from the store's read connections; and
/// the subscription hub. SQLite runs only in jobs on `exec`.
///
/// `observer` receives the supervisor's `(children_atom, [writer, reader,
/// hub])` after each (re)start and `(gave_up_atom)` when it stops
/// restarting.
///
/// The writer answers `(write_atom, command) -> command_result` once the
/// command is committed and applied, and `(read_atom, query) ->
/// query_result` once the read is linearizable (read index, then the
/// reader); both fail with `not_leader` (the leader's Raft id as text in the
/// context) on a follower, `overloaded` when a queue is full and `timeout`
/// after `replica_config::answer_within_ms`. It also takes the consensus
/// actor's messages (consensus_actor.hpp): `(raft_msg_atom, bytes)`,
/// `(group_status_atom)`, `(conf_atom, op, node)` and `(transfer_atom,
/// node)` among them.
caf::actor spawn_store_group(caf::actor_system& sys,
                             std::shared_ptr<store_files> files,
                             actors::executor& exec, store_group_limits limits,
                             subscription_limits sub_limits,
                             replica_config replica, caf::actor observer);

/// The writer alone, for tests.
caf::actor spawn_store_writer(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec, store_group_limits limits,
                              replica_config replica);

/// The reader alone, for tests.
caf::actor spawn_store_reader(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec,
                              store_group_limits limits);

} // namespace cxesdb::stores
