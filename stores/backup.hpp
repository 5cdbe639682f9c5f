#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "stores/errc.hpp"

namespace cxesdb::stores {

struct store_files;

/// Backups of single stores (protocol section 10): consistent copies of a
/// store's database taken while it serves, kept in a node's backup
/// directory, and the preparation of a new store from one. Every function
/// here blocks on disk: call them from IO jobs only.
///
/// A backup `NAME` is two files in the backup directory: `NAME.db`, the
/// store's database as of one applied index (SQLite's online backup, in one
/// read transaction), and `NAME.json`, what list_backups shows of it (the
/// store, its config, its last position, its size and when it was taken).
/// The `.json` is written last: a backup without it was cut short and is
/// neither listed nor restored (a later backup of the same name replaces
/// it).

/// The limits of the backup directory.
struct backup_limits {
  /// Most backups in the backup directory (`--max-backups`); backup_store
  /// beyond it is `too_large` (data.limit).
  size_t backups_max = 1000;
  static constexpr size_t backups_max_default = 1000;

  /// Longest backup name: a name matches the store id pattern
  /// `^[a-z][a-z0-9_]{0,62}$`, so it can never name a path outside the
  /// backup directory (no `/`, no `..`).
  static constexpr size_t name_bytes_max = 63;
};

/// Whether `name` is a valid backup name (the store id pattern).
bool valid_backup_name(const std::string& name);

/// What list_backups shows of one backup.
struct backup_info {
  std::string name;
  std::string store;
  int64_t bytes = 0;
  /// The position of the store's last event in the copy; -1: no event.
  int64_t last_position = -1;
  std::string created; ///< ISO 8601 UTC, when it was taken
  /// The store's config when it was taken (catalog JSON, to_json_text).
  std::string config_json;
};

/// An operating error or a domain refusal: a reason and a text.
struct backup_error {
  errc reason = errc::internal_error;
  std::string message;
};

/// Copies the database of the store whose files are `files` to
/// `<dir>/<name>.db` while it serves, and writes `<dir>/<name>.json`
/// (`config_json`: the store's config, for restore_store). `already_exists`
/// when the name is taken, `too_large` when the directory holds
/// `limits.backups_max` backups. Creates `dir` when missing. Both files are
/// synced before it returns.
std::variant<backup_info, backup_error>
take_backup(const store_files& files, const std::string& config_json,
            const std::string& dir, const std::string& name,
            const backup_limits& limits);

/// Every complete backup in `dir`, by name; none when `dir` does not exist.
/// A `.json` that cannot be read is skipped (and logged).
std::vector<backup_info> list_backups(const std::string& dir);

/// Reads what `<dir>/<name>.json` says of backup `name`; `not_found` when
/// there is no complete backup of that name.
std::variant<backup_info, backup_error> find_backup(const std::string& dir,
                                                    const std::string& name);

/// Makes `<store_dir>/store.db` (creating `store_dir`, replacing any file
/// there) the database of backup `name` of `dir`, as the first state of a
/// new Raft group: its applied index becomes 1, the index of the group's
/// bootstrap snapshot, so that the group applies its own entries from 2 on
/// and a replica that joins receives this database as the leader's
/// snapshot image. The copy is checked (quick_check) and synced.
std::variant<backup_info, backup_error>
prepare_restore(const std::string& dir, const std::string& name,
                const std::string& store_dir);

} // namespace cxesdb::stores
