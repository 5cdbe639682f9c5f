#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cxesdb::gateway::http {

/// One store's replica on this node, as one scrape of /metrics shows it
/// (protocol.md section 11, label `store`). Plain values: the store
/// manager's counters fill them, the HTTP server prints them.
struct store_figures {
  std::string store;
  /// Events appended by requests this replica answered as leader.
  uint64_t appended_events = 0;
  /// append_events requests this replica took as leader.
  uint64_t append_requests = 0;
  uint64_t raft_term = 0;
  uint64_t raft_commit_index = 0;
  uint64_t raft_applied_index = 0;
  bool raft_is_leader = false;
  /// Rows of the store's events table and its live streams
  /// (state_machine::figures), and its database files' bytes on disk.
  int64_t events = 0;
  int64_t streams = 0;
  int64_t bytes = 0;
  /// Events between each subscription's checkpoint and the store's last
  /// position, for the subscriptions with an emitter on this node, by id.
  std::vector<std::pair<std::string, int64_t>> subscription_lags;
};

} // namespace cxesdb::gateway::http
