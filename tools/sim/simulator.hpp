#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "actors/raft/config.hpp"

namespace cxesdb::tools::sim {

/// What one simulated run does. Everything random derives from `seed`, so a
/// run replays exactly.
struct options {
  uint64_t seed = 1;
  /// Initial voters; 0 picks 3 or 5 from the seed.
  size_t nodes = 0;
  /// Ticks with faults (drops, partitions, crashes, membership changes);
  /// clients propose during them.
  uint64_t fault_ticks = 300;
  /// Bound, after faults stop, for a leader to be elected and every
  /// acknowledged command to be applied on every member.
  uint64_t liveness_ticks = 400;
  /// Drops, duplicates, reorders, partitions, crashes; false gives a
  /// perfect network (delays only).
  bool faults = true;
  /// Message drop probability; negative picks 0..15% from the seed.
  double drop_rate = -1;
  /// With faults: partitions (symmetric and asymmetric) and crashes.
  bool partitions = true;
  bool crashes = true;
  /// Adds learners, promotes them, removes voters.
  bool membership = true;
  /// Clients also start read-index rounds (checked for linearizability).
  bool reads = true;
  /// Client proposals per tick (expected value, 0..1).
  double propose_rate = 0.5;
  /// Entries per AppendEntries; 0 picks 2..16 from the seed.
  size_t entries_per_msg = 0;
  /// A deliberate bug in every core (checker validation).
  actors::raft::mutation mutation = actors::raft::mutation::none;
};

/// What a run covered and how it ended.
struct result {
  bool ok = true;
  std::string failure;
  /// Tick at which the failure was seen.
  uint64_t failure_tick = 0;
  uint64_t ticks = 0;
  uint64_t steps = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_delivered = 0;
  uint64_t messages_dropped = 0;
  uint64_t elections = 0;
  uint64_t proposals = 0;
  uint64_t acked = 0;
  uint64_t crashes = 0;
  uint64_t conf_changes = 0;
  uint64_t snapshots_installed = 0;
  uint64_t reads = 0;
  uint64_t transfers = 0;
  /// Ticks from the first proposal to its commit on a no-fault run.
  uint64_t first_commit_ticks = 0;
};

/// Runs one seeded simulation: several cores in one thread over a simulated
/// network, with the invariant checker run after every step. Writes a
/// readable trace of every event to `trace` when it is not null.
result run(const options& opts, std::ostream* trace = nullptr);

} // namespace cxesdb::tools::sim
