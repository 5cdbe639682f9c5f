#include "stores/store_metrics.hpp"

#include <algorithm>
#include <limits>

#include "stores/state_machine.hpp"

namespace cxesdb::stores {

store_counters::checkpoint
store_counters::watch(const std::string& subscription) {
  // Unknown until the emitter publishes: no lag.
  auto c = std::make_shared<std::atomic<int64_t>>(
    std::numeric_limits<int64_t>::max());
  std::lock_guard<std::mutex> guard{mtx_};
  subscriptions_[subscription] = c;
  return c;
}

void store_counters::unwatch(const std::string& subscription,
                             const checkpoint& c) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = subscriptions_.find(subscription);
  // A later emitter of the same subscription may have taken the name.
  if (i != subscriptions_.end() && i->second == c)
    subscriptions_.erase(i);
}

std::vector<std::pair<std::string, int64_t>>
store_counters::checkpoints() const {
  std::vector<std::pair<std::string, int64_t>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  out.reserve(subscriptions_.size());
  for (auto& kv : subscriptions_)
    out.emplace_back(kv.first, kv.second->load(std::memory_order_relaxed));
  return out;
}

std::shared_ptr<store_counters> store_metrics::of(const std::string& store,
                                                  const std::string& db_path) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = stores_[store];
  if (!e.counters)
    e.counters = std::make_shared<store_counters>();
  e.db_path = db_path;
  return e.counters;
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
    auto& c = *kv.second.counters;
    gateway::http::store_figures f;
    f.store = kv.first;
    f.appended_events = c.appended_events.load(std::memory_order_relaxed);
    f.append_requests = c.append_requests.load(std::memory_order_relaxed);
    f.raft_term = c.raft_term.load(std::memory_order_relaxed);
    f.raft_commit_index = c.raft_commit_index.load(std::memory_order_relaxed);
    f.raft_applied_index
      = c.raft_applied_index.load(std::memory_order_relaxed);
    f.raft_is_leader = c.raft_is_leader.load(std::memory_order_relaxed);
    f.events = c.events.load(std::memory_order_relaxed);
    f.streams = c.streams.load(std::memory_order_relaxed);
    f.bytes = store_disk_bytes(kv.second.db_path);
    auto head = c.last_position.load(std::memory_order_relaxed);
    for (auto& s : c.checkpoints())
      f.subscription_lags.emplace_back(s.first,
                                       std::max<int64_t>(0, head - s.second));
    out.push_back(std::move(f));
  }
  return out;
}

} // namespace cxesdb::stores
