#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stores/sqlite.hpp"
#include "stores/state_machine.hpp"

namespace cxesdb::stores {

/// Whether `id` is a valid store id: `^[a-z][a-z0-9_]{0,62}$`. Checked before
/// anything touches the disk, so an id can never name a path outside the
/// data directory.
bool valid_store_id(const std::string& id);

/// The configuration of one store, as create_store sets it.
struct store_config {
  std::string id;
  int64_t timeout_ms = 10000;
  /// Replicas of the store; 0 until create_store resolved the default,
  /// min(3, cluster size).
  int64_t replication_factor = 0;
  bool has_description = false;
  std::string description;
  std::vector<std::string> tags;
  /// The cleanup policy (`retention`): the limits of every stream that has
  /// none of its own (0 = none), set in the store's log when it is created.
  int64_t retention_max_count = 0;
  int64_t retention_max_age_s = 0;
  std::string data_dir;   ///< absolute path of the store's directory
  std::string created_at; ///< ISO 8601 UTC

  static constexpr int64_t timeout_ms_default = 10000;
  static constexpr int64_t timeout_ms_max = 600000;
  static constexpr int64_t replication_factor_default_max = 3;
  static constexpr int64_t replication_factor_max = 7;
};

/// The life cycle of a store on this node.
enum class store_status : uint8_t { starting, running, stopping, unavailable };

const char* to_string(store_status x);

/// What list_stores and get_store_status report of a store.
struct store_info {
  store_config config;
  store_status status = store_status::starting;
};

/// The open SQLite connections of one store: one writer and a few readers.
///
/// Every connection has its own mutex: a job on an IO thread holds it while
/// it uses the connection, so that a restarted writer can never run a
/// transaction beside a job of its predecessor. Opened and closed on IO
/// threads only. An idle store hibernates: its connections close, and each
/// opens again when a job needs it (`writer`, `reader::open`).
struct store_files {
  struct reader {
    std::mutex mtx;
    std::unique_ptr<sqlite_db> db;
    std::unique_ptr<store_queries> queries;

    /// The connection's queries, opening it first when the store
    /// hibernates. Call with `mtx` held. Throws sqlite_error.
    store_queries& open(const std::string& path);
  };

  /// Default number of read connections per store.
  static constexpr size_t readers_default = 2;

  std::string id;
  std::string db_path;
  /// Where this replica kept its Raft log before the node log
  /// (`<dir>/raft.db`): moved into the node log once when found; without a
  /// node log (tests), where the replica keeps it.
  std::string raft_db_path;
  std::mutex write_mtx;
  std::unique_ptr<sqlite_db> write_db;
  std::unique_ptr<state_machine> machine;
  std::vector<std::unique_ptr<reader>> readers;

  /// Opens (creating when missing) `<dir>/store.db`. Throws sqlite_error.
  static std::unique_ptr<store_files> open(const std::string& id,
                                           const std::string& dir,
                                           size_t reader_count);

  /// The state machine on the write connection, opening it first when the
  /// store hibernates. Call with `write_mtx` held. Throws sqlite_error.
  state_machine& writer();

  /// Closes every connection, each under its own lock, the write connection
  /// last after checkpointing the WAL into the database: a hibernating store
  /// holds no file descriptor and no page cache until a job opens what it
  /// needs again. Blocks: IO threads only. Throws sqlite_error.
  void hibernate();

  /// Connections open now (tests, figures); takes every lock in turn.
  size_t connections_open();
};

/// Renders the config as the JSON text the catalog keeps.
std::string to_json_text(const store_config& cfg);

/// Parses what `to_json_text` produced; throws on corrupt text.
store_config config_from_json_text(const std::string& id,
                                   const std::string& text);

/// One event of the catalog (the `_system` store: stream `nodes` holds
/// `node_joined` and `node_left`, stream `store-<id>` a store's
/// `store_created` and `store_removed`), as the store manager folds it into
/// its view.
struct catalog_event {
  enum class kind : uint8_t {
    ignored,       ///< not JSON, not a catalog stream, or not usable
    node_joined,   ///< `node` (never empty) joined at `address`
    node_left,     ///< `node` left
    store_created, ///< `store` created: `config` and `founders` when
                   ///< `config_ok`
    store_removed, ///< `store` removed
    store_other,   ///< another event of `store`'s stream (moves its version)
  };
  kind what = kind::ignored;
  std::string node;
  std::string address;
  std::string store;
  bool config_ok = false;
  store_config config;
  std::vector<std::string> founders;
  /// store_created by restore_store: the backup its one founder starts it
  /// from (stores/backup.hpp); empty for create_store.
  std::string restored_from;
};

/// Decodes a catalog event from its stream, type and data (JSON text).
/// Never throws: data that is not JSON, a store id that is not valid
/// (`valid_store_id`), or a member of the wrong type is refused (`ignored`,
/// `config_ok` false, or an empty name), never misread.
catalog_event decode_catalog_event(const std::string& stream_id,
                                   const std::string& event_type,
                                   const std::string& data);

} // namespace cxesdb::stores
