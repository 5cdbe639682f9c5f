// cxesdb-inspect: the store inspector, a developer tool. Prints one replica of
// a store straight from its SQLite file, read-only, without a node: its
// events, or a summary (event count, last position, applied Raft index,
// streams). For post-mortems of a test's kept data (CXESDB_KEEP_TMP) and for
// comparing replicas by hand; docs/testing.md shows how.
//
//   cxesdb-inspect DATA_DIR STORE [--events | --summary]

#include <cstdio>
#include <iostream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "stores/sqlite.hpp"
#include "tools/common/version.hpp"

using cxesdb::stores::sqlite_db;
using cxesdb::stores::sqlite_error;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 64;

void usage(std::ostream& out) {
  out << "usage: cxesdb-inspect DATA_DIR STORE [--events | --summary]\n\n"
         "Prints the replica of STORE in DATA_DIR (DATA_DIR/STORE/store.db),\n"
         "opened read-only; the node may run or be stopped.\n\n"
         "  --summary  event count, last position, applied index, streams\n"
         "             with their versions (the default)\n"
         "  --events   every event: position, stream, number, id, type\n";
}

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/// The value of a one-row, one-column query, or `fallback` when there is no
/// row or it is NULL.
int64_t scalar(sqlite_db& db, const char* sql, int64_t fallback) {
  auto q = db.prepare(sql);
  if (!q.step() || q.is_null(0))
    return fallback;
  return q.int64(0);
}

/// True when the database has a table called `name` (older or foreign
/// files may not).
bool has_table(sqlite_db& db, const std::string& name) {
  auto q = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.bind(1, name);
  return q.step();
}

void print_events(sqlite_db& db) {
  auto q = db.prepare("SELECT position, stream_id, event_number, event_id, "
                      "event_type FROM events ORDER BY position");
  std::cout << "position\tstream\tnumber\tevent_id\tevent_type\n";
  size_t n = 0;
  while (q.step()) {
    std::cout << q.int64(0) << '\t' << q.text(1) << '\t' << q.int64(2) << '\t'
              << q.text(3) << '\t' << q.text(4) << '\n';
    ++n;
  }
  std::cout << "(" << n << (n == 1 ? " event)\n" : " events)\n");
}

void print_summary(sqlite_db& db, const std::string& path) {
  auto events = scalar(db, "SELECT count(*) FROM events", 0);
  auto first = scalar(db, "SELECT min(position) FROM events", -1);
  auto last = scalar(db, "SELECT max(position) FROM events", -1);
  auto applied = has_table(db, "applied")
                   ? scalar(db, "SELECT idx FROM applied WHERE id = 0", -1)
                   : -1;
  auto streams = scalar(db, "SELECT count(*) FROM streams", 0);
  std::cout << "file            " << path << '\n'
            << "events          " << events << '\n'
            << "first position  " << (first < 0 ? "-" : std::to_string(first))
            << '\n'
            << "last position   " << (last < 0 ? "-" : std::to_string(last))
            << '\n'
            << "applied index   "
            << (applied < 0 ? "-" : std::to_string(applied)) << '\n'
            << "streams         " << streams << '\n';
  if (has_table(db, "subscriptions"))
    std::cout << "subscriptions   "
              << scalar(db, "SELECT count(*) FROM subscriptions", 0) << '\n';
  if (has_table(db, "snapshots"))
    std::cout << "snapshots       "
              << scalar(db, "SELECT count(*) FROM snapshots", 0) << '\n';
  if (streams == 0)
    return;
  std::cout << "\nstream\tversion\n";
  auto q = db.prepare("SELECT stream_id, version FROM streams "
                      "ORDER BY stream_id");
  while (q.step())
    std::cout << q.text(0) << '\t' << q.int64(1) << '\n';
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  bool events = false;
  bool summary = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return exit_ok;
    }
    if (arg == "--version") {
      std::cout << cxesdb::tools::version_line("cxesdb-inspect") << "\n";
      return exit_ok;
    }
    if (arg == "--events")
      events = true;
    else if (arg == "--summary")
      summary = true;
    else if (arg.rfind("--", 0) == 0) {
      std::cerr << "cxesdb-inspect: unknown option " << arg << "\n";
      usage(std::cerr);
      return exit_usage;
    } else
      positional.push_back(arg);
  }
  if (positional.size() != 2 || (events && summary)) {
    usage(std::cerr);
    return exit_usage;
  }
  auto& store = positional[1];
  if (store.empty() || store.find('/') != std::string::npos) {
    std::cerr << "cxesdb-inspect: not a store id: '" << store << "'\n";
    return exit_usage;
  }
  auto path = positional[0] + "/" + store + "/store.db";
  if (!is_file(path)) {
    std::cerr << "cxesdb-inspect: no replica of '" << store << "' here: "
              << path << " does not exist\n";
    return exit_failed;
  }
  try {
    // Read-only: never writes the replica or checkpoints its WAL; it sees
    // what is in store.db-wal too (a node killed with SIGKILL leaves it).
    sqlite_db db{path, sqlite_db::mode::read_only};
    db.exec("PRAGMA query_only=1;");
    db.exec("BEGIN"); // one snapshot for every query, even on a live node
    if (events)
      print_events(db);
    else
      print_summary(db, path);
    db.exec("COMMIT");
  } catch (const sqlite_error& e) {
    std::cerr << "cxesdb-inspect: " << e.what() << "\n";
    return exit_failed;
  }
  return exit_ok;
}
