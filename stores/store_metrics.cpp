#include "stores/store_metrics.hpp"

namespace cxesdb::stores {

std::shared_ptr<store_counters> store_metrics::of(const std::string& store) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& c = stores_[store];
  if (!c)
    c = std::make_shared<store_counters>();
  return c;
}

void store_metrics::forget(const std::string& store) {
  std::lock_guard<std::mutex> guard{mtx_};
  stores_.erase(store);
}

std::vector<gateway::http::store_figures> store_metrics::figures() const {
  std::vector<gateway::http::store_figures> out;
  std::lock_guard<std::mutex> guard{mtx_};
  out.reserve(stores_.size());
  for (auto& kv : stores_) {
    auto& c = *kv.second;
    gateway::http::store_figures f;
    f.store = kv.first;
    f.appended_events = c.appended_events.load(std::memory_order_relaxed);
    f.append_requests = c.append_requests.load(std::memory_order_relaxed);
    f.raft_term = c.raft_term.load(std::memory_order_relaxed);
    f.raft_commit_index = c.raft_commit_index.load(std::memory_order_relaxed);
    f.raft_applied_index
      = c.raft_applied_index.load(std::memory_order_relaxed);
    f.raft_is_leader = c.raft_is_leader.load(std::memory_order_relaxed);
    out.push_back(std::move(f));
  }
  return out;
}

} // namespace cxesdb::stores
