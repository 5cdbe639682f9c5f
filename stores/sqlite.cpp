#include "stores/sqlite.hpp"

#include <sqlite3.h>

#include "actors/assert.hpp"
#include "actors/io_thread.hpp"

namespace cxesdb::stores {

namespace {

[[noreturn]] void fail(sqlite3* db, int rc, const char* what) {
  std::string msg = what;
  msg += ": ";
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw sqlite_error{rc, msg};
}

} // namespace

sqlite_stmt::sqlite_stmt(sqlite3* db, std::string_view sql) : db_(db) {
  CXESDB_ASSERT(actors::io_thread::may_block());
  auto rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK)
    fail(db, rc, "prepare");
}

sqlite_stmt::sqlite_stmt(sqlite_stmt&& other) noexcept
  : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

sqlite_stmt& sqlite_stmt::operator=(sqlite_stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

sqlite_stmt::~sqlite_stmt() {
  sqlite3_finalize(stmt_);
}

sqlite_stmt& sqlite_stmt::bind(int i, int64_t x) {
  if (auto rc = sqlite3_bind_int64(stmt_, i, x); rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}

sqlite_stmt& sqlite_stmt::bind(int i, std::string_view x) {
  if (auto rc = sqlite3_bind_text(stmt_, i, x.data(),
                                  static_cast<int>(x.size()), SQLITE_STATIC);
      rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}

sqlite_stmt& sqlite_stmt::bind_null(int i) {
  if (auto rc = sqlite3_bind_null(stmt_, i); rc != SQLITE_OK)
    fail(db_, rc, "bind");
  return *this;
}

bool sqlite_stmt::step() {
  // SQLite blocks on disk: never on a CAF scheduler thread.
  CXESDB_ASSERT(actors::io_thread::may_block());
  auto rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  sqlite3_reset(stmt_);
  fail(db_, rc, "step");
}

void sqlite_stmt::run() {
  while (step()) {
    // statements run this way return no rows
  }
  reset();
}

int64_t sqlite_stmt::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

std::string sqlite_stmt::text(int col) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  auto n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string{} : std::string{p, static_cast<size_t>(n)};
}

bool sqlite_stmt::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

void sqlite_stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

sqlite_db::sqlite_db(const std::string& path, mode m) {
  CXESDB_ASSERT(actors::io_thread::may_block());
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= m == mode::read_only ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  auto rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "open " + path + ": ";
    msg += db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw sqlite_error{rc, msg};
  }
  sqlite3_extended_result_codes(db_, 1);
  // Readers may briefly meet a writer's checkpoint; wait instead of failing.
  sqlite3_busy_timeout(db_, 5000);
}

sqlite_db::~sqlite_db() {
  CXESDB_ASSERT(actors::io_thread::may_block());
  sqlite3_close_v2(db_);
}

int64_t sqlite_db::changes() const {
  return sqlite3_changes64(db_);
}

void sqlite_db::exec(const std::string& sql) {
  CXESDB_ASSERT(actors::io_thread::may_block());
  char* err = nullptr;
  auto rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = "exec: ";
    msg += err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw sqlite_error{rc, msg};
  }
}

} // namespace cxesdb::stores
