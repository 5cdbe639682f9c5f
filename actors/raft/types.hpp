#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cxesdb::actors::raft {

/// A server's identity inside one Raft group; 0 means "nobody".
using node_id = uint64_t;

/// The id that stands for "no node" (no vote, no known leader).
constexpr node_id no_node = 0;

/// The kind of a log entry.
enum class entry_type : uint8_t {
  /// A command for the state machine (opaque `data`).
  normal = 0,
  /// A membership change; `data` is an encoded `conf_change`.
  conf_change = 1,
  /// The empty entry a new leader appends to commit its term.
  no_op = 2,
};

/// One slot of the replicated log.
struct entry {
  uint64_t index = 0;
  uint64_t term = 0;
  entry_type type = entry_type::normal;
  std::string data;
};

bool operator==(const entry& x, const entry& y);
inline bool operator!=(const entry& x, const entry& y) {
  return !(x == y);
}

/// What a membership change does.
enum class conf_op : uint8_t {
  add_voter = 1,   ///< adds a voter, or promotes a learner to voter
  add_learner = 2, ///< adds a non-voting member that receives the log
  remove = 3,      ///< removes a voter or learner
};

/// A single-server membership change, the payload of a conf_change entry.
struct conf_change {
  conf_op op = conf_op::add_voter;
  node_id node = no_node;
};

/// Encodes `cc` as the `data` of a conf_change entry.
std::string encode_conf_change(const conf_change& cc);

/// Decodes the `data` of a conf_change entry; nullopt when malformed.
std::optional<conf_change> decode_conf_change(const std::string& data);

/// The membership of a group: sorted, disjoint lists of voters and learners.
struct conf_state {
  std::vector<node_id> voters;
  std::vector<node_id> learners;

  bool is_voter(node_id id) const;
  bool is_learner(node_id id) const;
  bool is_member(node_id id) const {
    return is_voter(id) || is_learner(id);
  }
  /// Applies `cc`; returns false (and leaves the state alone) when it is a
  /// no-op, such as removing a node that is not a member.
  bool apply(const conf_change& cc);
};

bool operator==(const conf_state& x, const conf_state& y);

/// The state a server must persist before it answers any message: current
/// term, the vote in that term, and the commit index (so restarts can apply
/// without waiting for a leader).
struct hard_state {
  uint64_t term = 0;
  node_id vote = no_node;
  uint64_t commit = 0;
};

inline bool operator==(const hard_state& x, const hard_state& y) {
  return x.term == y.term && x.vote == y.vote && x.commit == y.commit;
}
inline bool operator!=(const hard_state& x, const hard_state& y) {
  return !(x == y);
}

/// Where a snapshot sits in the log and the membership at that point.
struct snapshot_meta {
  uint64_t index = 0;
  uint64_t term = 0;
  conf_state conf;
};

/// A state machine image that replaces the log up to `meta.index`.
struct snapshot {
  snapshot_meta meta;
  std::string data;
};

/// The kinds of messages servers exchange.
enum class message_type : uint8_t {
  append = 0,         ///< AppendEntries (leader -> follower)
  append_resp = 1,    ///< its answer
  heartbeat = 2,      ///< empty AppendEntries without log matching
  heartbeat_resp = 3, ///< its answer (also acknowledges read-index rounds)
  vote = 4,           ///< RequestVote
  vote_resp = 5,      ///< its answer
  pre_vote = 6,       ///< a vote request that changes no state (thesis 9.6)
  pre_vote_resp = 7,  ///< its answer
  snapshot = 8,       ///< InstallSnapshot (the whole image in one message)
  timeout_now = 9,    ///< leadership transfer: start an election now
};

/// Returns a short name for `t`, as used in traces and golden files.
const char* to_string(message_type t);

/// `message::context` of a vote request sent because of a leadership
/// transfer: receivers ignore their leader lease for it.
constexpr uint64_t transfer_context = 1;

/// A message between two servers of one group. Fields are reused by type,
/// as in etcd raft: for append, (index, log_term) is the entry before
/// `entries`; for vote requests it is the candidate's last entry; for
/// append_resp it is the index the follower has (or the rejected index, with
/// `reject_hint` and `log_term` pointing at where the leader should retry).
struct message {
  message_type type = message_type::append;
  node_id from = no_node;
  node_id to = no_node;
  uint64_t term = 0;
  uint64_t log_term = 0;
  uint64_t index = 0;
  uint64_t commit = 0;
  std::vector<entry> entries;
  bool reject = false;
  uint64_t reject_hint = 0;
  uint64_t context = 0;
  /// The snapshot of an InstallSnapshot message; shared, as messages are
  /// copied (duplicates, traces) and images can be large.
  std::shared_ptr<const raft::snapshot> snap;
};

/// A linearizable read that may now be served once the state machine has
/// applied `index`.
struct read_state {
  uint64_t index = 0;
  uint64_t request = 0;
};

/// Everything a core hands its shell in one batch. The shell must, in this
/// order: persist `snap` (if any), `entries` and `hard` atomically; then send
/// `messages`; then restore `snap` into the state machine if
/// `snap_install`, apply `committed`, serve `reads`; then call
/// `core::advance` with this batch.
struct ready {
  /// Changed hard state to persist, if it changed.
  std::optional<hard_state> hard;
  /// Entries to persist. The storage first drops every stored entry with an
  /// index >= `entries.front().index` (they conflict with the leader).
  std::vector<entry> entries;
  /// A snapshot to persist; the storage then drops entries up to its index
  /// (and all entries when `snap_install`).
  std::optional<snapshot> snap;
  /// True when `snap` came from the leader and must replace the state
  /// machine; false when it is the local compaction of the log prefix.
  bool snap_install = false;
  /// Messages to send, only after the persistence above is durable.
  std::vector<message> messages;
  /// Committed entries to apply, in log order.
  std::vector<entry> committed;
  /// Reads confirmed by a quorum.
  std::vector<read_state> reads;
  /// Read requests that can no longer be confirmed (leadership lost).
  std::vector<uint64_t> failed_reads;

  bool needs_persist() const {
    return hard.has_value() || !entries.empty() || snap.has_value();
  }
  bool empty() const {
    return !needs_persist() && messages.empty() && committed.empty()
           && reads.empty() && failed_reads.empty();
  }
};

/// What a server loads from its storage at start.
struct initial_state {
  hard_state hard;
  /// The latest snapshot (index 0 and empty membership when none).
  raft::snapshot snap;
  /// The entries after `snap.meta.index`, contiguous.
  std::vector<entry> entries;
};

} // namespace cxesdb::actors::raft
