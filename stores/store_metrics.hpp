#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/http/store_figures.hpp"

namespace cxesdb::stores {

/// The counters of one store's replica on this node. Its writer updates
/// them with relaxed atomic stores and adds (it owns them: nothing else
/// writes); a scrape reads them from the HTTP server's thread.
struct store_counters {
  std::atomic<uint64_t> appended_events{0};
  std::atomic<uint64_t> append_requests{0};
  std::atomic<uint64_t> raft_term{0};
  std::atomic<uint64_t> raft_commit_index{0};
  std::atomic<uint64_t> raft_applied_index{0};
  std::atomic<bool> raft_is_leader{false};
};

/// The counters of every replica on the node, by store id. The store
/// manager hands a replica its counters when it opens it (`of`) and drops
/// them when the store is removed (`forget`); the lock is taken only then
/// and on a scrape, never on the request path.
class store_metrics {
public:
  /// The counters of `store`, made on first use; a replica restarted by its
  /// supervisor gets the same ones, so its counters keep counting.
  std::shared_ptr<store_counters> of(const std::string& store);

  /// Drops `store`'s counters (the store was removed from this node).
  void forget(const std::string& store);

  /// A copy for a scrape, ordered by store id.
  std::vector<gateway::http::store_figures> figures() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, std::shared_ptr<store_counters>> stores_;
};

} // namespace cxesdb::stores
