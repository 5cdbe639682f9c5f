#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/raft/config.hpp"
#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// The role a server plays in its current term.
enum class role : uint8_t { follower, pre_candidate, candidate, leader };

const char* to_string(role r);

/// How the leader replicates to one follower (etcd's progress states).
enum class progress_state : uint8_t {
  /// Finding the follower's last matching index: one message at a time.
  probe,
  /// Streaming: up to `max_inflight_msgs` appends in flight.
  replicate,
  /// A snapshot is on its way; nothing else is sent until it is answered.
  snapshot,
};

/// The leader's view of one member's log.
struct progress {
  uint64_t match = 0;
  uint64_t next = 1;
  progress_state state = progress_state::probe;
  /// In probe state: a message was sent and is not answered yet.
  bool probe_sent = false;
  /// In snapshot state: the index of the snapshot sent.
  uint64_t pending_snapshot = 0;
  /// In snapshot state: ticks left before the snapshot is sent again.
  uint64_t snapshot_wait_ticks = 0;
  /// Last index of every append in flight, oldest first.
  std::deque<uint64_t> inflight;
  /// Heard from since the last check-quorum round.
  bool recent_active = false;
};

/// Outcome of a proposal.
enum class propose_status : uint8_t {
  ok,           ///< appended at (index, term); not yet committed
  not_leader,   ///< `leader` is a hint (or no_node)
  overloaded,   ///< too many uncommitted entries (max_pending_proposals)
  transferring, ///< a leadership transfer is in progress
  conf_pending, ///< another membership change is not applied yet
  invalid,      ///< a membership change that cannot be made
  lagging,      ///< promoting a learner that has not caught up yet
};

const char* to_string(propose_status s);

/// The answer to `core::propose`.
struct propose_result {
  propose_status status = propose_status::not_leader;
  uint64_t index = 0;
  uint64_t term = 0;
  node_id leader = no_node;
};

/// A Raft server's algorithm without I/O, clocks or threads: the shell feeds
/// it messages (`step`), time (`tick`) and commands (`propose`), and drains
/// its output with `get_ready` / `advance`, as etcd raft's RawNode.
///
/// The core keeps the log after the latest snapshot in memory; the shell
/// bounds it by compacting (`compact`) after applying.
class core {
public:
  /// Source of randomness for election timeouts; must be seeded by the
  /// caller so that runs replay.
  using random_fn = std::function<uint64_t()>;

  core(const config& cfg, const initial_state& init, random_fn rnd);

  core(const core&) = delete;
  core& operator=(const core&) = delete;

  // -- inputs -----------------------------------------------------------------

  /// Advances logical time by one tick.
  void tick();

  /// Handles a message from a peer.
  void step(const message& m);

  /// Appends a command (leader only).
  propose_result propose(std::string data);

  /// Appends a membership change (leader only; one at a time).
  propose_result propose_conf_change(const conf_change& cc);

  /// Starts an election now, as if the election timeout had elapsed.
  void campaign();

  /// Asks the leader to hand leadership to `to`; false when not possible.
  bool transfer_leader(node_id to);

  /// Starts a read-index round; the answer arrives as a `read_state` with
  /// the same `request` in a later ready (or in `failed_reads`). False when
  /// this server is not a leader that has committed an entry in its term,
  /// or too many reads are pending.
  bool read_index(uint64_t request);

  /// Replaces the applied log prefix up to `applied_index()` by a snapshot
  /// of the state machine. Only between `advance` and the next `get_ready`.
  void compact(std::string data);

  /// Replaces the log prefix up to `index` (at most `applied_index()`) by a
  /// snapshot `data` of the state machine as of `index` or later: a shell
  /// whose state machine makes its own applies durable compacts only up to
  /// what it knows is on disk, and keeps a tail for slow followers. Does
  /// nothing when `index` is not past the current snapshot.
  void compact(uint64_t index, std::string data);

  // -- output -----------------------------------------------------------------

  /// True when `get_ready` would return a non-empty batch.
  bool has_ready() const;

  /// Takes the next batch. At most one batch is outstanding at a time.
  ready get_ready();

  /// Tells the core that `rd` was persisted, sent and applied.
  void advance(const ready& rd);

  // -- state ------------------------------------------------------------------

  node_id id() const noexcept { return cfg_.id; }
  raft::role role() const noexcept { return role_; }
  uint64_t term() const noexcept { return term_; }
  node_id vote() const noexcept { return vote_; }
  node_id leader() const noexcept { return leader_; }
  uint64_t commit_index() const noexcept { return commit_; }
  uint64_t applied_index() const noexcept { return applied_; }
  uint64_t stable_index() const noexcept { return stable_; }
  uint64_t snapshot_index() const noexcept { return snap_index_; }
  uint64_t snapshot_term() const noexcept { return snap_term_; }
  uint64_t first_index() const noexcept { return snap_index_ + 1; }
  uint64_t last_index() const noexcept { return snap_index_ + log_.size(); }
  uint64_t last_term() const;
  /// Term of the entry at `index`; nullopt when compacted or beyond the log.
  std::optional<uint64_t> term_at(uint64_t index) const;
  /// The entry at `index`; only for first_index() <= index <= last_index().
  const entry& entry_at(uint64_t index) const;
  const conf_state& conf() const noexcept { return conf_; }
  /// The leader's progress of `id`; nullptr when not leader or unknown.
  const progress* progress_of(node_id id) const;
  node_id transferee() const noexcept { return transferee_; }
  /// A membership change is in the log and not applied yet.
  bool conf_change_pending() const noexcept {
    return pending_conf_index_ > applied_;
  }
  /// Number of times this core became leader.
  uint64_t elections_won() const noexcept { return elections_won_; }
  bool ready_outstanding() const noexcept { return ready_outstanding_; }
  /// Messages dropped because the outbox was full (max_outbox_msgs).
  uint64_t dropped_msgs() const noexcept { return dropped_msgs_; }

private:
  // -- roles ------------------------------------------------------------------
  void reset(uint64_t term);
  void become_follower(uint64_t term, node_id lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_campaign(bool pre, bool transfer);
  bool promotable() const;
  size_t quorum() const;

  // -- handlers ---------------------------------------------------------------
  void step_leader(const message& m);
  void step_candidate(const message& m);
  void step_follower(const message& m);
  void handle_vote_request(const message& m);
  void handle_append(const message& m);
  void handle_heartbeat(const message& m);
  void handle_snapshot(const message& m);
  void handle_append_resp(const message& m, progress& pr);
  void handle_heartbeat_resp(const message& m, progress& pr);

  // -- leader helpers ---------------------------------------------------------
  bool send_append(node_id to, bool send_if_empty);
  void broadcast_append();
  void broadcast_heartbeat(uint64_t context);
  bool maybe_commit();
  bool quorum_active() const;
  void append_local(entry_type type, std::string data);
  void abort_transfer();
  void release_reads();

  // -- log helpers ------------------------------------------------------------
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;
  void truncate_and_append(const std::vector<entry>& entries);
  bool up_to_date(uint64_t last_term, uint64_t last_index) const;
  void apply_conf(const conf_change& cc);
  /// The membership after applying the log up to `index` (not below the
  /// snapshot): the snapshot's, changed by the log's conf entries.
  conf_state conf_at(uint64_t index) const;
  void send(message m);
  hard_state current_hard() const;
  void reset_randomized_timeout();

  config cfg_;
  random_fn rnd_;

  // Persistent state (mirrors what storage holds after the last advance).
  uint64_t term_ = 0;
  node_id vote_ = no_node;
  hard_state persisted_hard_;

  // Log.
  uint64_t snap_index_ = 0;
  uint64_t snap_term_ = 0;
  std::deque<entry> log_;
  uint64_t stable_ = 0;
  uint64_t commit_ = 0;
  uint64_t applied_ = 0;
  /// Highest index handed out in a ready (applied once advanced).
  uint64_t applying_ = 0;
  raft::snapshot snapshot_;
  bool snapshot_unpersisted_ = false;
  bool snapshot_install_ = false;
  conf_state conf_;

  // Volatile.
  raft::role role_ = raft::role::follower;
  node_id leader_ = no_node;
  uint64_t election_elapsed_ = 0;
  uint64_t heartbeat_elapsed_ = 0;
  uint64_t randomized_timeout_ = 0;
  std::map<node_id, bool> votes_;
  std::map<node_id, progress> prs_;
  uint64_t pending_conf_index_ = 0;
  node_id transferee_ = no_node;
  bool need_broadcast_ = false;
  std::vector<message> msgs_;

  struct pending_read {
    uint64_t request;
    uint64_t index;
    uint64_t seq;
    std::set<node_id> acks;
  };
  std::deque<pending_read> pending_reads_;
  uint64_t read_seq_ = 0;
  std::vector<read_state> reads_;
  std::vector<uint64_t> failed_reads_;

  bool ready_outstanding_ = false;
  uint64_t elections_won_ = 0;
  uint64_t dropped_msgs_ = 0;
};

} // namespace cxesdb::actors::raft
