#pragma once

#include <memory>
#include <optional>
#include <string>

#include "actors/raft/storage.hpp"

struct sqlite3;

namespace cxesdb::actors::raft {

/// The durable `storage` of the consensus actor: a raft log table, one
/// hard-state row and one snapshot row in a SQLite database (WAL,
/// `synchronous=FULL`), each save one transaction. The tables are prefixed
/// `raft_` so that they can share the store's database file.
///
/// Every call blocks on disk I/O: use it only from an executor job.
class sqlite_storage : public storage {
public:
  /// Opens or creates the database at `path`; nullptr and `err` on failure.
  static std::unique_ptr<sqlite_storage> open(const std::string& path,
                                              std::string& err);

  ~sqlite_storage() override;

  sqlite_storage(const sqlite_storage&) = delete;
  sqlite_storage& operator=(const sqlite_storage&) = delete;

  std::optional<std::string> load(initial_state& out) override;

  std::optional<std::string> save(const ready& rd) override;

  /// True when nothing was ever saved (a new group member).
  bool empty();

private:
  explicit sqlite_storage(sqlite3* db) : db_(db) {
  }

  std::optional<std::string> exec(const char* sql);
  std::optional<std::string> save_in_tx(const ready& rd);

  sqlite3* db_;
};

} // namespace cxesdb::actors::raft
