#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/executor.hpp"
#include "actors/raft/atoms.hpp"
#include "actors/raft/config.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// Atoms of the consensus actor's interface.
///
/// - `(raft_msg_atom, std::string bytes)`: a peer's message (see codec.hpp).
/// - `(propose_atom, std::string data)` -> `(uint64 status, uint64 index,
///   uint64 term, uint64 leader)`: appends a command; `status` is a
///   `propose_status`, `leader` a hint when not_leader.
/// - `(read_index_atom)` -> `(uint64 index)`: a linearizable read may be
///   served once the state machine applied `index`; an error when this
///   node cannot confirm its leadership.
/// - `(status_atom)` -> `(uint64 leader, uint64 term, uint64 commit,
///   uint64 applied, uint64 role)`.
/// - `(peers_atom, uint64 id, caf::actor handle)`: sets (or, with an
///   invalid handle, removes) the address of peer `id`.
/// - `(group_status_atom)` -> `group_status`: the core's state and
///   membership (a local message).
/// - `(conf_atom, uint8 op, uint64 node)` -> same as propose: a membership
///   change (`conf_op`), one at a time.
/// - `(transfer_atom, uint64 node)` -> bool: hands leadership to `node`.
/// - `(compact_atom, uint64 index)`: the state machine holds everything up
///   to `index` durably (with `consensus_config::image` set): the log may
///   be compacted up to there, less the kept tail.
/// What `(group_status_atom)` answers: the consensus state of one member.
struct group_status {
  node_id id = no_node;
  node_id leader = no_node;
  uint64_t term = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t last_index = 0;
  raft::role role = raft::role::follower;
  conf_state conf;
  /// The leader's view of each member's log (empty on followers).
  std::map<node_id, uint64_t> match;
  /// A membership change is proposed and not applied yet.
  bool conf_pending = false;
};

/// A state machine that lives in its own file (a store's database) and
/// travels as that file when a follower needs a snapshot. Both functions
/// block and run as executor jobs.
struct snapshot_image {
  /// Writes a consistent copy of the state machine, as of an applied index
  /// of at least `index`, to `path`; an error text on failure.
  std::function<std::optional<std::string>(uint64_t index,
                                           const std::string& path)>
    make;
  /// Puts the copy at `path` (received whole and synced) in place of the
  /// state machine, which then holds at least `index`; an error text on
  /// failure, and then nothing changed.
  std::function<std::optional<std::string>(uint64_t index,
                                           const std::string& path)>
    install;
  /// Where the image being sent (`snapshot-out.img`) and the one being
  /// received (`snapshot-in.part`) are kept.
  std::string dir;
};

/// How a consensus actor runs.
struct consensus_config {
  /// The core's settings (id, timeouts, limits).
  raft::config core;
  /// The node's log, shared by every group on the node: the group's state
  /// is kept there under `group`. Without it, the group keeps its own
  /// SQLite database at `db_path`; with it, a database found at `db_path`
  /// (a data directory from before the node log) is moved into the log once
  /// and deleted.
  std::shared_ptr<class node_log> log;
  /// The SQLite database holding the raft tables (usually the store's).
  std::string db_path;
  /// Voters of a new group; used only when the database is empty. Empty for
  /// a node that joins an existing group.
  std::vector<node_id> initial_voters;
  /// Real time per tick.
  uint64_t tick_interval_ms = 100;
  /// Seed of the election-timeout randomness.
  uint64_t seed = 1;
  /// Receives committed entries in log order, exactly once per entry in
  /// this process's life (the state machine skips what it already has).
  std::function<void(const std::vector<entry>&)> apply;
  /// Replaces the state machine with a snapshot received from the leader.
  std::function<void(const snapshot&)> restore;
  /// Returns an image of the state machine as of the last applied entry,
  /// for log compaction; when empty, the log is never compacted.
  std::function<std::string()> take_snapshot;
  /// Applied entries kept in the log before it is compacted.
  uint64_t compact_every_entries = 10000;
  /// When set, the state machine is a file: the owner says what is durable
  /// with `(compact_atom, index)`, the log is compacted to a snapshot with
  /// no data, and a follower that needs the snapshot receives the file in
  /// chunks (snapshot_chunk.hpp), then the InstallSnapshot.
  snapshot_image image;
  /// Entries kept below a compaction point (at most this many and this many
  /// bytes), so that a follower a little behind catches up from the log and
  /// not from a whole image.
  uint64_t compact_keep_entries = 1000;
  static constexpr uint64_t compact_keep_entries_default = 1000;
  uint64_t compact_keep_bytes = 4u << 20;
  /// A leader does not compact what a follower that is making progress
  /// (its match moved, or it acknowledged an image chunk, within
  /// `stall_ticks`) has not matched yet, up to this many bytes of entries:
  /// a follower catching up, from an image or from the log, is not sent a
  /// new image because the log moved on meanwhile. A stalled follower pins
  /// nothing.
  uint64_t compact_pin_bytes_max = 256u << 20;
  /// Ticks without progress after which a follower is stalled.
  uint64_t stall_ticks = 50;
  /// Image bytes per chunk; one chunk per follower is in memory or on the
  /// wire at a time.
  uint64_t snapshot_chunk_bytes = 1u << 20;
  static constexpr uint64_t snapshot_chunk_bytes_default = 1u << 20;
  /// When set, messages to peers go to this actor as `(raft_msg_atom,
  /// group, uint64 to, bytes)` (a node's router, which knows where the peer
  /// lives) instead of to the `peers` map.
  caf::actor transport;
  /// The group's name in transport messages.
  std::string group;
  /// What the actor does when the consensus cannot go on (a disk error);
  /// unset: it quits with the error. A host with other work (a store's
  /// replica) answers what waits first.
  std::function<void(const caf::error&)> on_fail;
  /// Campaigns as soon as the storage is loaded instead of after an
  /// election timeout (the preferred member of a new group; pre-vote keeps
  /// it from disturbing a group that has a leader).
  bool campaign_on_load = false;
};

/// A snapshot image on its way to one follower (leader side).
struct image_out {
  /// The core's InstallSnapshot for this follower.
  message header;
  /// The next byte the follower wants.
  uint64_t offset = 0;
  /// A chunk read is in flight.
  bool reading = false;
};

/// A snapshot image arriving from the leader (follower side).
struct image_in {
  /// The snapshot it belongs to (index 0: none).
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t total = 0;
  /// Bytes written to the part file.
  uint64_t received = 0;
  /// A write (or the install after the last one) is in flight.
  bool writing = false;
};

/// Receives the index a linearizable read waits for, or an error when
/// leadership was lost first.
using read_index_fn = std::function<void(caf::expected<uint64_t>)>;

/// The state of a consensus actor.
struct consensus_state {
  consensus_config cfg;
  executor* exec = nullptr;
  std::unique_ptr<raft::core> core;
  std::shared_ptr<class sqlite_storage> storage;
  std::map<node_id, caf::actor> peers;
  /// The batch being persisted, or a batch the executor refused.
  std::shared_ptr<raft::ready> in_flight;
  bool submitted = false;
  uint64_t persist_seq = 0;
  /// Linearizable reads waiting for a quorum, by request number.
  std::map<uint64_t, read_index_fn> reads;
  uint64_t next_read = 0;
  /// Persist batches completed (for tests and metrics).
  uint64_t persists = 0;
  /// The hard state as the storage last saved it.
  hard_state saved_hard;
  /// The batch in flight was partly handled before its persist (see pump).
  bool handled_early = false;
  /// A tick is scheduled (a lone leader needs none, see `needs_ticks`).
  bool ticking = false;
  /// The load job's result, until the actor took it.
  std::shared_ptr<void> load_slot;
  /// The highest index the state machine said is durable (`compact_atom`),
  /// and the one the last compaction was for.
  uint64_t durable = 0;
  uint64_t compacted_for = 0;
  /// The image file on this node: made for snapshot `image_index`, of
  /// `image_bytes` bytes; `image_making` while a job writes it.
  uint64_t image_index = 0;
  uint64_t image_bytes = 0;
  bool image_making = false;
  /// Images on their way to followers, by follower.
  std::map<node_id, image_out> images_out;
  /// Ticks since the actor started, and, on a leader, each follower's match
  /// with the tick it last made progress (compaction pins, see
  /// `compact_pin_bytes_max`).
  uint64_t ticks = 0;
  std::map<node_id, std::pair<uint64_t, uint64_t>> follower_progress;
  image_in incoming;
  /// Snapshot images sent whole and installed (for tests and metrics).
  uint64_t images_sent = 0;
  uint64_t images_installed = 0;
  static inline const char* name = "cxesdb.raft.consensus";
};

/// The actor that owns one consensus core: turns a timer into ticks,
/// persists each ready batch through `exec` before sending its messages,
/// hands committed entries to `cfg.apply`. Proposals that arrive while a
/// batch is being persisted go into the next batch (group commit).
caf::behavior consensus_actor(caf::stateful_actor<consensus_state>* self,
                              consensus_config cfg, executor* exec,
                              std::map<node_id, caf::actor> peers);

/// The same consensus inside an actor with other work (a store's replica
/// actor, which proposes and applies without a message in between): starts
/// it on `st`, which lives in the actor's state as long as the actor, and
/// returns its handlers, to follow the actor's own (`or_else`). `cfg.apply`
/// is then called inside the actor.
caf::behavior consensus_behavior(caf::event_based_actor* self,
                                 consensus_state& st, consensus_config cfg,
                                 executor* exec,
                                 std::map<node_id, caf::actor> peers);

/// Proposes a command from inside the actor that runs `st` (what
/// `(propose_atom, data)` answers, without the message).
propose_result propose(caf::event_based_actor* self, consensus_state& st,
                       std::string data);

/// Starts a linearizable read from inside the actor that runs `st`; false
/// when this member is not the leader (or not loaded yet), and `done` is
/// never called.
bool read_index(caf::event_based_actor* self, consensus_state& st,
                read_index_fn done);

/// The consensus state of one member (what `(group_status_atom)` answers).
group_status status_of(const consensus_state& st);

} // namespace cxesdb::actors::raft

// Local messages only: a group's status and committed entries stay on the
// node that owns the consensus actor.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::actors::raft::group_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::actors::raft::entry>)
