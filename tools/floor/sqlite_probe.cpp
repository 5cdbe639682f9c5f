#include "tools/floor/sqlite_probe.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <sqlite3.h>

namespace cxesdb::tools {

namespace {

int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// The node's events table, reduced to what an insert touches.
constexpr const char* schema_sql = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE events(
  position INTEGER PRIMARY KEY,
  stream_id TEXT NOT NULL,
  event_number INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  content_type TEXT NOT NULL,
  created INTEGER NOT NULL,
  UNIQUE(stream_id, event_number));
CREATE INDEX events_event_id ON events(event_id);
)sql";

/// Streams the rows are spread over.
constexpr uint64_t probe_streams = 1000;

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw std::runtime_error(std::string{what} + ": " + sqlite3_errmsg(db));
}

/// Owns the connection and the statement; closes them on every path.
struct handles {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  ~handles() {
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
};

} // namespace

sqlite_result probe_sqlite(const sqlite_options& o, uint64_t rows_per_txn) {
  sqlite_result r;
  r.rows_per_txn = rows_per_txn;
  r.stream_run = o.stream_run;
  auto path = o.dir + "/sqlite-probe-" + std::to_string(rows_per_txn) + ".db";
  ::unlink(path.c_str());
  handles h;
  check(h.db, sqlite3_open(path.c_str(), &h.db), "open");
  check(h.db, sqlite3_exec(h.db, schema_sql, nullptr, nullptr, nullptr),
        "schema");
  check(h.db,
        sqlite3_prepare_v2(h.db,
                           "INSERT INTO events(position, stream_id, "
                           "event_number, event_id, event_type, data, "
                           "metadata, content_type, created) "
                           "VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &h.insert, nullptr),
        "prepare");
  std::string data = R"({"p":")" + std::string(o.payload_bytes - 8, 'x')
                     + R"("})";
  std::string metadata = R"({"source":"cxesdb-floor"})";
  std::vector<int64_t> stream_versions(probe_streams, -1);
  uint64_t position = 0;
  auto start = clock_ns();
  auto end = start + static_cast<int64_t>(o.seconds * 1e9);
  while (r.transactions == 0 || clock_ns() < end) {
    auto t0 = clock_ns();
    check(h.db, sqlite3_exec(h.db, "BEGIN", nullptr, nullptr, nullptr),
          "begin");
    for (uint64_t i = 0; i < rows_per_txn; ++i, ++position) {
      auto s = position / o.stream_run * 7919 % probe_streams;
      auto stream = "stream-" + std::to_string(s);
      auto event_id = "00000000-0000-4000-8000-" + std::to_string(
                        100000000000 + position);
      sqlite3_bind_int64(h.insert, 1, static_cast<int64_t>(position));
      sqlite3_bind_text(h.insert, 2, stream.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(h.insert, 3, ++stream_versions[s]);
      sqlite3_bind_text(h.insert, 4, event_id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(h.insert, 5, "FloorEvent", -1, SQLITE_STATIC);
      sqlite3_bind_text(h.insert, 6, data.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(h.insert, 7, metadata.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(h.insert, 8, "application/json", -1, SQLITE_STATIC);
      sqlite3_bind_int64(h.insert, 9, t0 / 1000);
      check(h.db, sqlite3_step(h.insert), "insert");
      sqlite3_reset(h.insert);
    }
    check(h.db, sqlite3_exec(h.db, "COMMIT", nullptr, nullptr, nullptr),
          "commit");
    r.txn_latency.record(static_cast<uint64_t>(clock_ns() - t0));
    ++r.transactions;
    r.rows += rows_per_txn;
  }
  r.seconds = (clock_ns() - start) / 1e9;
  sqlite3_finalize(h.insert);
  h.insert = nullptr;
  sqlite3_close(h.db);
  h.db = nullptr;
  for (auto suffix : {"", "-wal", "-shm"})
    ::unlink((path + suffix).c_str());
  return r;
}

} // namespace cxesdb::tools
