#include "actors/raft/sqlite_storage.hpp"

#include <sqlite3.h>

#include "actors/assert.hpp"
#include "actors/raft/codec.hpp"

namespace cxesdb::actors::raft {

namespace {

/// Owns a prepared statement for one call.
class stmt {
public:
  stmt(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr);
  }
  ~stmt() {
    sqlite3_finalize(s_);
  }
  stmt(const stmt&) = delete;
  stmt& operator=(const stmt&) = delete;
  bool ok() const {
    return rc_ == SQLITE_OK;
  }
  sqlite3_stmt* get() {
    return s_;
  }
  void bind(int i, uint64_t x) {
    sqlite3_bind_int64(s_, i, static_cast<sqlite3_int64>(x));
  }
  void bind(int i, const std::string& x) {
    sqlite3_bind_blob(s_, i, x.data(), static_cast<int>(x.size()),
                      SQLITE_TRANSIENT);
  }
  uint64_t u64(int col) {
    return static_cast<uint64_t>(sqlite3_column_int64(s_, col));
  }
  std::string blob(int col) {
    auto p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    auto n = sqlite3_column_bytes(s_, col);
    return p ? std::string{p, static_cast<size_t>(n)} : std::string{};
  }

private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS raft_hard_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  term INTEGER NOT NULL,
  vote INTEGER NOT NULL,
  commit_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS raft_log (
  idx INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  type INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS raft_snapshot (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  idx INTEGER NOT NULL,
  term INTEGER NOT NULL,
  conf BLOB NOT NULL,
  data BLOB NOT NULL);
)sql";

} // namespace

std::unique_ptr<sqlite_storage> sqlite_storage::open(const std::string& path,
                                                     std::string& err) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    err = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<sqlite_storage> s{new sqlite_storage(db)};
  // Nothing is acknowledged before it is on disk: FULL syncs every commit.
  for (auto sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
                   "PRAGMA busy_timeout=5000;", schema}) {
    if (auto e = s->exec(sql)) {
      err = *e;
      return nullptr;
    }
  }
  return s;
}

sqlite_storage::~sqlite_storage() {
  sqlite3_close(db_);
}

std::optional<std::string> sqlite_storage::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string e = msg ? msg : "sqlite error";
    sqlite3_free(msg);
    return e;
  }
  return std::nullopt;
}

bool sqlite_storage::empty() {
  initial_state st;
  if (load(st))
    return false;
  return st.hard.term == 0 && st.snap.meta.index == 0 && st.entries.empty()
         && st.snap.meta.conf.voters.empty();
}

std::optional<std::string> sqlite_storage::load(initial_state& out) {
  out = initial_state{};
  {
    stmt q{db_, "SELECT term, vote, commit_index FROM raft_hard_state"};
    if (!q.ok())
      return std::string{sqlite3_errmsg(db_)};
    if (sqlite3_step(q.get()) == SQLITE_ROW) {
      out.hard.term = q.u64(0);
      out.hard.vote = q.u64(1);
      out.hard.commit = q.u64(2);
    }
  }
  {
    stmt q{db_, "SELECT idx, term, conf, data FROM raft_snapshot"};
    if (!q.ok())
      return std::string{sqlite3_errmsg(db_)};
    if (sqlite3_step(q.get()) == SQLITE_ROW) {
      out.snap.meta.index = q.u64(0);
      out.snap.meta.term = q.u64(1);
      auto conf = decode_conf_state(q.blob(2));
      if (!conf)
        return std::string{"corrupt raft_snapshot.conf"};
      out.snap.meta.conf = std::move(*conf);
      out.snap.data = q.blob(3);
    }
  }
  {
    stmt q{db_, "SELECT idx, term, type, data FROM raft_log WHERE idx > ?1 "
                "ORDER BY idx"};
    if (!q.ok())
      return std::string{sqlite3_errmsg(db_)};
    q.bind(1, out.snap.meta.index);
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      entry e;
      e.index = q.u64(0);
      e.term = q.u64(1);
      auto t = q.u64(2);
      if (t > 2)
        return std::string{"corrupt raft_log.type"};
      e.type = static_cast<entry_type>(t);
      e.data = q.blob(3);
      if (e.index != out.snap.meta.index + out.entries.size() + 1)
        return std::string{"gap in raft_log at "} + std::to_string(e.index);
      out.entries.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE)
      return std::string{sqlite3_errmsg(db_)};
  }
  return std::nullopt;
}

std::optional<std::string> sqlite_storage::save_in_tx(const ready& rd) {
  if (rd.snap) {
    stmt q{db_, "INSERT OR REPLACE INTO raft_snapshot (id, idx, term, conf, "
                "data) VALUES (1, ?1, ?2, ?3, ?4)"};
    q.bind(1, rd.snap->meta.index);
    q.bind(2, rd.snap->meta.term);
    q.bind(3, encode(rd.snap->meta.conf));
    q.bind(4, rd.snap->data);
    if (!q.ok() || sqlite3_step(q.get()) != SQLITE_DONE)
      return std::string{sqlite3_errmsg(db_)};
    stmt d{db_, rd.snap_install ? "DELETE FROM raft_log WHERE ?1 >= 0"
                                : "DELETE FROM raft_log WHERE idx <= ?1"};
    d.bind(1, rd.snap->meta.index);
    if (!d.ok() || sqlite3_step(d.get()) != SQLITE_DONE)
      return std::string{sqlite3_errmsg(db_)};
  }
  if (!rd.entries.empty()) {
    stmt d{db_, "DELETE FROM raft_log WHERE idx >= ?1"};
    d.bind(1, rd.entries.front().index);
    if (!d.ok() || sqlite3_step(d.get()) != SQLITE_DONE)
      return std::string{sqlite3_errmsg(db_)};
    stmt ins{db_, "INSERT INTO raft_log (idx, term, type, data) VALUES (?1, "
                  "?2, ?3, ?4)"};
    if (!ins.ok())
      return std::string{sqlite3_errmsg(db_)};
    for (auto& e : rd.entries) {
      sqlite3_reset(ins.get());
      ins.bind(1, e.index);
      ins.bind(2, e.term);
      ins.bind(3, static_cast<uint64_t>(e.type));
      ins.bind(4, e.data);
      if (sqlite3_step(ins.get()) != SQLITE_DONE)
        return std::string{sqlite3_errmsg(db_)};
    }
  }
  if (rd.hard) {
    stmt q{db_, "INSERT OR REPLACE INTO raft_hard_state (id, term, vote, "
                "commit_index) VALUES (1, ?1, ?2, ?3)"};
    q.bind(1, rd.hard->term);
    q.bind(2, rd.hard->vote);
    q.bind(3, rd.hard->commit);
    if (!q.ok() || sqlite3_step(q.get()) != SQLITE_DONE)
      return std::string{sqlite3_errmsg(db_)};
  }
  return std::nullopt;
}

std::optional<std::string> sqlite_storage::save(const ready& rd) {
  if (!rd.needs_persist())
    return std::nullopt;
  if (auto e = exec("BEGIN IMMEDIATE;"))
    return e;
  if (auto e = save_in_tx(rd)) {
    exec("ROLLBACK;");
    return e;
  }
  return exec("COMMIT;");
}

} // namespace cxesdb::actors::raft
