#pragma once

#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "caf/actor.hpp"

namespace cxesdb::stores {

/// The stores whose Raft leader is a replica on this node, with that
/// replica's writer: a gateway worker sends a store's reads and writes
/// straight to it instead of through the store manager's router (two
/// messages and the router's bookkeeping fewer per request).
///
/// A hint, like every routing table here: a writer puts itself in when it
/// finds it leads (a proposal or a read index went through) and takes itself
/// out when it finds it does not or stops. A stale entry costs one
/// `not_leader` or `unavailable` answer, after which the worker routes the
/// request through the manager; it never lets two replicas write.
///
/// Shared by the node's gateway workers and writers, on any thread.
class local_leaders {
public:
  /// Records `writer` as the leader replica of `store` on this node.
  void set(const std::string& store, const caf::actor& writer);

  /// Forgets `store`'s entry if it is `writer` (a restarted group's new
  /// writer may have taken its place meanwhile).
  void clear(const std::string& store, const caf::actor& writer);

  /// The leader replica's writer of `store` on this node, or an invalid
  /// handle.
  caf::actor find(const std::string& store) const;

  /// Stores with an entry.
  size_t size() const;

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, caf::actor> writers_;
};

} // namespace cxesdb::stores
