#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/raft/core.hpp"
#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// Raft's safety properties, checked from outside the cores after every
/// step of a test or simulation (LogCabin's invariants, kept apart from the
/// algorithm so a bug in one cannot hide in the other):
/// - election safety: at most one leader per term;
/// - a node never loses or changes an entry it knows is committed, and a
///   leader holds every committed entry (leader completeness);
/// - state machine safety: every node applies the same entries in the same
///   order, and equal indexes yield equal states;
/// - a node's commit index and term never decrease (also across restarts,
///   as far as other nodes could have seen them).
///
/// The checker records the first violation instead of aborting, so that a
/// simulator can report the seed and the step.
class invariant_checker {
public:
  /// Checks `c` after it handled an input or its ready was processed.
  void check(const core& c);

  /// Records a message as it leaves its sender (for restart checks).
  void on_send(const message& m);

  /// Checks a restarted core against what it had shown before the crash.
  void on_restart(const core& c);

  /// Records that node `id` applied `e`.
  void on_apply(node_id id, const entry& e);

  /// Records that node `id` restored a snapshot at `index`.
  void on_restore(node_id id, uint64_t index);

  /// Records the state machine digest of node `id` after `index`.
  void on_state(node_id id, uint64_t index, uint64_t digest);

  /// Forgets a node that left the group for good.
  void forget(node_id id);

  bool ok() const noexcept {
    return violation_.empty();
  }

  const std::string& violation() const noexcept {
    return violation_;
  }

  /// Terms that had a leader.
  uint64_t leader_terms() const noexcept {
    return leaders_.size();
  }

  /// Highest index known committed anywhere.
  uint64_t max_committed() const noexcept {
    return committed_terms_.size();
  }

  /// Term of the committed entry at `index` (0 when unknown).
  uint64_t committed_term(uint64_t index) const {
    return index >= 1 && index <= committed_terms_.size()
             ? committed_terms_[index - 1]
             : 0;
  }

private:
  struct node_view {
    uint64_t term = 0;
    uint64_t commit = 0;
    uint64_t applied = 0;
    uint64_t sent_term = 0;
    uint64_t sent_commit = 0;
    uint64_t leader_checked_term = 0;
  };

  void fail(std::string what);
  void record_committed(node_id id, uint64_t index, uint64_t term);

  std::map<uint64_t, node_id> leaders_;
  std::vector<uint64_t> committed_terms_;
  std::vector<uint64_t> applied_digests_;
  std::vector<uint64_t> state_digests_;
  std::map<node_id, node_view> nodes_;
  std::string violation_;
};

} // namespace cxesdb::actors::raft
