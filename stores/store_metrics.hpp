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

/// The counters of one store's replica on this node. Its writer (and the
/// apply jobs it runs) updates them with relaxed atomic stores and adds (it
/// owns them: nothing else writes); a scrape reads them from the HTTP
/// server's thread.
struct store_counters {
  std::atomic<uint64_t> appended_events{0};
  std::atomic<uint64_t> append_requests{0};
  std::atomic<uint64_t> raft_term{0};
  std::atomic<uint64_t> raft_commit_index{0};
  std::atomic<uint64_t> raft_applied_index{0};
  std::atomic<bool> raft_is_leader{false};
  /// The state machine's figures after its last apply job.
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> streams{0};
  std::atomic<int64_t> last_position{-1};

  /// The position below which a subscription's emitter on this node has
  /// everything acknowledged (persistent) or handed out (transient); its
  /// lag is the store's last position less this. The emitter owns the
  /// value; `watch` and `unwatch` are its first and last word.
  using checkpoint = std::shared_ptr<std::atomic<int64_t>>;
  checkpoint watch(const std::string& subscription);
  void unwatch(const std::string& subscription, const checkpoint& c);

  /// The subscriptions watched now, by id (for a scrape).
  std::vector<std::pair<std::string, int64_t>> checkpoints() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, checkpoint> subscriptions_;
};

/// The counters of every replica on the node, by store id. The store
/// manager hands a replica its counters when it opens it (`of`) and drops
/// them when the store is removed (`forget`); the lock is taken only then
/// and on a scrape, never on the request path.
class store_metrics {
public:
  /// The counters of `store`, made on first use; a replica restarted by its
  /// supervisor gets the same ones, so its counters keep counting.
  /// `db_path` is the store's database, whose size a scrape reads.
  std::shared_ptr<store_counters> of(const std::string& store,
                                     const std::string& db_path);

  /// Drops `store`'s counters (the store was removed from this node).
  void forget(const std::string& store);

  /// A copy for a scrape, ordered by store id. Reads the size of each
  /// store's database files (a `stat` each).
  std::vector<gateway::http::store_figures> figures() const;

private:
  struct entry {
    std::shared_ptr<store_counters> counters;
    std::string db_path;
  };
  mutable std::mutex mtx_;
  std::map<std::string, entry> stores_;
};

} // namespace cxesdb::stores
