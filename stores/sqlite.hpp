#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace cxesdb::stores {

/// Thrown by the SQLite wrappers when SQLite reports an error. Callers in the
/// storage layer turn it into a `storage_failed` outcome.
class sqlite_error : public std::runtime_error {
public:
  sqlite_error(int code, const std::string& what)
    : std::runtime_error(what), code_(code) {
  }

  int code() const noexcept {
    return code_;
  }

private:
  int code_;
};

/// One prepared statement, reset after each use.
class sqlite_stmt {
public:
  sqlite_stmt() = default;
  sqlite_stmt(sqlite3* db, std::string_view sql);
  sqlite_stmt(const sqlite_stmt&) = delete;
  sqlite_stmt& operator=(const sqlite_stmt&) = delete;
  sqlite_stmt(sqlite_stmt&& other) noexcept;
  sqlite_stmt& operator=(sqlite_stmt&& other) noexcept;
  ~sqlite_stmt();

  sqlite_stmt& bind(int i, int64_t x);
  sqlite_stmt& bind(int i, std::string_view x);
  sqlite_stmt& bind_null(int i);

  /// Steps once: true when a row is ready, false when done.
  bool step();

  /// Steps to completion, expecting no row.
  void run();

  int64_t int64(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

  /// Resets the statement and clears its bindings.
  void reset();

private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

/// One SQLite connection.
class sqlite_db {
public:
  enum class mode { read_write_create, read_only };

  /// Opens `path` (":memory:" for an in-memory database). Throws
  /// sqlite_error.
  sqlite_db(const std::string& path, mode m);
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;
  ~sqlite_db();

  /// Runs one or more statements without results.
  void exec(const std::string& sql);

  sqlite_stmt prepare(std::string_view sql) {
    return sqlite_stmt{db_, sql};
  }

  /// Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t changes() const;

  sqlite3* handle() const noexcept {
    return db_;
  }

private:
  sqlite3* db_ = nullptr;
};

} // namespace cxesdb::stores
