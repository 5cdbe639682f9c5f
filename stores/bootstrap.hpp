#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cxesdb::stores {

// -- who founds the catalog ---------------------------------------------------
//
// Pure: no actors, no clock, no IO. The store manager gathers the input
// (its seeds, its own address, whether its catalog replica holds data, what
// the seeds answered) and acts on the decision; docs/operations.md states
// the rule for operators.
//
// The rule, so that nodes started with one identical `--seeds` list (each
// listing itself) make exactly one catalog however their starts interleave:
//
// 1. No seeds: the node founds a cluster of one (as always).
// 2. A node whose catalog replica holds data never founds again: it rejoins
//    the cluster that data belongs to.
// 3. A node not among its own seeds joins them (seeds name a cluster).
// 4. Among the seeds, only the *founding seed* may found: the seed that
//    sorts first (host, then port as a number). Every other seed joins,
//    which means waiting until the founding seed's catalog lets it in.
// 5. The founding seed founds only once a quorum of the seed list (a
//    majority of the distinct seeds, itself included) answered its probe and
//    none of them is in a cluster; while fewer answered, it waits. Should
//    one be in a cluster already (this node's data was lost, or it was
//    restarted with a new data directory), it joins that cluster instead.

/// What a node does about the catalog.
enum class bootstrap_action : uint8_t {
  /// Bootstrap the catalog with this node as its only voter, join it and
  /// create the default store.
  found,
  /// Start an empty catalog replica (or the one on disk) and join the
  /// cluster through the seeds and members.
  join,
  /// Not yet: ask the seeds again.
  wait,
};

const char* to_string(bootstrap_action x);

/// What one seed's store manager answered to the bootstrap probe.
struct seed_answer {
  /// Its cluster address as its registry announces it (`host:port`).
  std::string address;
  /// The nodes of its catalog view; empty while it is in no cluster.
  std::vector<std::string> nodes;
};

/// Everything the decision depends on.
struct bootstrap_input {
  /// `--seeds` as given (`host:port` each; blanks around an entry, empty
  /// entries and repeats do not count).
  std::vector<std::string> seeds;
  /// This node's cluster address (`--bind:--cluster-port`).
  std::string self_address;
  /// This node's catalog replica holds joined nodes: it was part of a
  /// cluster before.
  bool has_catalog = false;
  /// The answers of this probe round (any node, seed or not).
  std::vector<seed_answer> answers;
};

/// The decision and why, for the log.
struct bootstrap_decision {
  bootstrap_action action = bootstrap_action::wait;
  std::string reason;
};

/// The seed list as the rule reads it: trimmed, without empty entries and
/// repeats, sorted by host, then port as a number (the founding seed first).
std::vector<std::string> normalize_seeds(const std::vector<std::string>& seeds);

/// The seed that may found the cluster: the first of `normalize_seeds`;
/// empty when there is none.
std::string founding_seed(const std::vector<std::string>& seeds);

/// Seeds that must answer (the founding seed included) before it founds: a
/// majority of the distinct seeds.
size_t seed_quorum(const std::vector<std::string>& seeds);

/// Applies the rule above.
bootstrap_decision decide_bootstrap(const bootstrap_input& in);

} // namespace cxesdb::stores
