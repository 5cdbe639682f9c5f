#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stores/sqlite.hpp"
#include "stores/types.hpp"

namespace cxesdb::stores {

/// Opens a store's database file with the settings every store uses: WAL
/// mode and `synchronous=NORMAL`. A commit does not wait for the disk: the
/// store's Raft log (the node log, synced before any answer) is the durable
/// copy of every command, and the applied index commits in the same
/// transaction as its effects, so after a power loss the database is an
/// earlier, consistent state and the log replays what it lost. (The log is
/// therefore compacted only up to an apply transaction run with
/// `synchronous=FULL`.) Creates the schema when missing.
std::unique_ptr<sqlite_db> open_store_db(const std::string& path);

/// Opens a read-only connection to an existing store database.
std::unique_ptr<sqlite_db> open_store_reader_db(const std::string& path);

/// The deterministic state machine of one store.
///
/// It applies commands one at a time, in log order, inside transactions the
/// caller groups (group commit): positions, event numbers, idempotence and
/// expected-version checks are decided here, from the database's state and
/// the command alone, so every replica that applies the same log reaches the
/// same state. The index of the last applied command is written in the same
/// transaction as its effects, so no command is ever applied twice.
///
/// Not thread-safe; it runs on an IO thread, never on a CAF scheduler thread.
class state_machine {
public:
  /// Takes a connection opened by `open_store_db` (or ":memory:").
  explicit state_machine(sqlite_db& db);

  /// Index of the last applied command, 0 when none was.
  uint64_t applied_index() const noexcept {
    return applied_index_;
  }

  /// The position the next appended event gets.
  int64_t next_position() const noexcept {
    return next_position_;
  }

  /// Applies `cmds` as log entries `first_index`, `first_index + 1`, ... in
  /// one transaction and returns one result per command. When the
  /// transaction fails as a whole, every result is `storage_failed` and the
  /// state is unchanged.
  std::vector<command_result> apply_batch(uint64_t first_index,
                                          const std::vector<command>& cmds);

private:
  command_result apply_one(const command& cmd);
  command_result apply(const append_cmd& cmd);
  command_result apply(const record_snapshot_cmd& cmd);
  command_result apply(const delete_snapshot_cmd& cmd);
  command_result apply(const save_subscription_cmd& cmd);
  command_result apply(const checkpoint_cmd& cmd);
  command_result apply(const remove_subscription_cmd& cmd);
  command_result apply(const noop_cmd&) {
    return {};
  }

  int64_t stream_version(const std::string& stream);

  sqlite_db& db_;
  uint64_t applied_index_ = 0;
  int64_t next_position_ = 0;
  sqlite_stmt begin_;
  sqlite_stmt commit_;
  sqlite_stmt rollback_;
  sqlite_stmt savepoint_;
  sqlite_stmt release_;
  sqlite_stmt rollback_to_;
  sqlite_stmt set_applied_;
  sqlite_stmt get_version_;
  sqlite_stmt find_event_id_;
  sqlite_stmt insert_event_;
  sqlite_stmt upsert_stream_;
  sqlite_stmt upsert_snapshot_;
  sqlite_stmt delete_snapshot_;
  sqlite_stmt get_subscription_;
  sqlite_stmt insert_subscription_;
  sqlite_stmt set_checkpoint_;
  sqlite_stmt delete_subscription_;
};

/// The reads of one store, on a connection of its own (a read-only one in
/// the node, the writer's own in unit tests).
///
/// Not thread-safe; it runs on an IO thread.
class store_queries {
public:
  explicit store_queries(sqlite_db& db);

  query_result run(const query& q);

private:
  query_result run_one(const read_stream_query& q);
  query_result run_one(const stream_version_query& q);
  query_result run_one(const list_streams_query& q);
  query_result run_one(const read_all_query& q);
  query_result run_one(const read_snapshot_query& q);
  query_result run_one(const list_snapshots_query& q);
  query_result run_one(const list_subscriptions_query& q);

  sqlite_db& db_;
  sqlite_stmt begin_;
  sqlite_stmt end_;
  sqlite_stmt get_version_;
  sqlite_stmt stream_fwd_;
  sqlite_stmt stream_bwd_;
  sqlite_stmt all_fwd_;
  sqlite_stmt all_bwd_;
  sqlite_stmt stream_from_position_;
  sqlite_stmt last_position_;
  sqlite_stmt streams_first_;
  sqlite_stmt streams_after_;
  sqlite_stmt snapshot_at_;
  sqlite_stmt snapshot_latest_;
  sqlite_stmt snapshots_list_;
  sqlite_stmt subscriptions_list_;
};

} // namespace cxesdb::stores
