#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stores/sqlite.hpp"
#include "stores/types.hpp"

namespace cxesdb::stores {

/// Opens a store's database file with the settings every store uses: WAL
/// mode and `synchronous=NORMAL`; a new file gets `auto_vacuum=INCREMENTAL`,
/// so that a scavenge can return the pages it frees to the filesystem. A commit does not wait for the disk: the
/// store's Raft log (the node log, synced before any answer) is the durable
/// copy of every command, and the applied index commits in the same
/// transaction as its effects, so after a power loss the database is an
/// earlier, consistent state and the log replays what it lost. (The log is
/// therefore compacted only up to an apply transaction run with
/// `synchronous=FULL`.) Creates the schema when missing.
std::unique_ptr<sqlite_db> open_store_db(const std::string& path);

/// Opens a read-only connection to an existing store database.
std::unique_ptr<sqlite_db> open_store_reader_db(const std::string& path);

/// The bytes a store's database takes on disk: `path` and its write-ahead
/// log (`path-wal`); 0 for files that do not exist. A `stat` of each, safe
/// on any thread.
int64_t store_disk_bytes(const std::string& path);

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

  /// The store's counts as of the last applied command (table `figures`).
  struct counts {
    /// Rows of `events`: a removed event counts until a scavenge deletes it.
    int64_t events = 0;
    /// Streams that hold events and are not deleted.
    int64_t streams = 0;
  };
  const counts& figures() const noexcept {
    return figures_;
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
  command_result apply(const delete_stream_cmd& cmd);
  command_result apply(const truncate_stream_cmd& cmd);
  command_result apply(const set_stream_metadata_cmd& cmd);
  command_result apply(const scavenge_cmd& cmd);

  /// A stream's row in `stream_meta`, or the defaults when it has none.
  struct meta_row {
    bool exists = false;
    int64_t first = 0;
    int64_t state = 0; ///< stream_state
    stream_metadata metadata;
  };

  int64_t stream_version(const std::string& stream);
  meta_row load_meta(const std::string& stream);
  void save_meta(const std::string& stream, const meta_row& m);
  /// Moves `m.first` past what the stream's max_count and max_age_s (its
  /// own, else the store's defaults) remove at `now_epoch_us` (the leader's
  /// clock, carried in the command).
  void apply_limits(const std::string& stream, int64_t version, meta_row& m,
                    int64_t now_epoch_us);
  /// Whether the store's defaults limit streams.
  bool has_defaults() const noexcept {
    return defaults_.max_count > 0 || defaults_.max_age_s > 0;
  }

  sqlite_db& db_;
  uint64_t applied_index_ = 0;
  int64_t next_position_ = 0;
  counts figures_;
  /// Whether `stream_meta` has a row: appends look their stream up there
  /// only then, so stores that never delete pay nothing for it.
  bool any_meta_ = false;
  /// The store's retention: the metadata of the stream "" (no client can
  /// name it), the limits of streams without their own.
  stream_metadata defaults_;
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
  sqlite_stmt get_meta_;
  sqlite_stmt upsert_meta_;
  sqlite_stmt first_young_;
  sqlite_stmt delete_stream_snapshots_;
  sqlite_stmt expiring_;
  sqlite_stmt scavenge_next_;
  sqlite_stmt scavenge_delete_;
  sqlite_stmt set_scavenged_;
  sqlite_stmt set_figures_;
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
  query_result run_one(const stream_metadata_query& q);
  query_result run_one(const store_figures_query& q);

  /// What reads of one stream may show (`stream_meta`).
  struct visibility {
    bool hard_deleted = false;
    bool soft_deleted = false;
    int64_t first = 0;            ///< lowest readable event number
    int64_t created_min = INT64_MIN; ///< max_age_s against the query's clock
    int64_t max_age_s = 0;           ///< its own, else the store's
  };
  visibility visible(const std::string& stream, int64_t now_epoch_us);
  bool any_meta();
  /// The store's default max_age_s (its retention), 0 for none.
  int64_t default_max_age_s();

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
  sqlite_stmt get_meta_;
  sqlite_stmt any_meta_;
  sqlite_stmt all_fwd_visible_;
  sqlite_stmt all_bwd_visible_;
  sqlite_stmt applied_;
};

} // namespace cxesdb::stores
