#pragma once

#include <cstddef>
#include <cstdint>

#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// A deliberate bug a core can be built with, so that tests can show the
/// invariant checker catches it. Production code leaves it at `none`.
enum class mutation : uint8_t {
  none = 0,
  /// Counts vote responses of older terms as grants.
  count_stale_votes,
  /// Commits entries of older terms by counting replicas (ignores figure 8).
  commit_old_term,
  /// Grants votes without the "candidate's log is up to date" check.
  vote_without_log_check,
  /// Commits with one replica fewer than a majority.
  commit_without_majority,
  /// Does not persist the vote (it is lost on a crash).
  forget_vote,
  /// Persists only the first term it had (the term goes back on a crash).
  forget_term,
  /// Hands persisted but uncommitted entries to the state machine.
  apply_uncommitted,
  /// Followers take a heartbeat's commit index even when it is lower.
  commit_from_heartbeat,
  /// Serves read-index requests without confirming leadership.
  read_without_quorum,
};

/// Tuning and limits of one core. Every queue and batch has a named limit.
struct config {
  /// This server.
  node_id id = no_node;
  /// Ticks without a leader before a follower campaigns; the actual timeout
  /// is drawn from [election_ticks, 2 * election_ticks).
  uint64_t election_ticks = 10;
  /// Ticks between a leader's heartbeats.
  uint64_t heartbeat_ticks = 2;
  /// Runs a pre-vote round before incrementing the term (thesis 9.6).
  bool pre_vote = true;
  /// Leaders step down when they did not hear from a majority within an
  /// election timeout; followers ignore votes while they hear a leader.
  bool check_quorum = true;
  /// AppendEntries messages in flight per follower while replicating.
  size_t max_inflight_msgs = 8;
  /// Entries per AppendEntries message.
  size_t max_entries_per_msg = 64;
  /// Payload bytes per AppendEntries message (at least one entry is sent).
  size_t max_msg_bytes = 1u << 20;
  /// Uncommitted entries a leader accepts before refusing proposals.
  size_t max_pending_proposals = 4096;
  /// Read-index requests waiting for a quorum.
  size_t max_pending_reads = 1024;
  /// Messages waiting for the next ready batch; beyond, new messages are
  /// dropped (Raft tolerates loss) so a stalled disk cannot grow memory.
  size_t max_outbox_msgs = 4096;
  /// Committed entries handed out in one ready batch.
  size_t max_committed_per_ready = 1024;
  /// The state machine's applied index at start; 0 means the snapshot's.
  uint64_t applied_index = 0;
  /// Test-only deliberate bug.
  raft::mutation mutation = raft::mutation::none;
};

} // namespace cxesdb::actors::raft
