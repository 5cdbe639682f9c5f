#include "stores/state_machine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string_view>
#include <utility>

#include <sqlite3.h>
#include <sys/stat.h>

#include "actors/assert.hpp"

namespace cxesdb::stores {

namespace {

// `stream_meta` holds what became of a stream once it was deleted,
// truncated or given metadata: `first` is its lowest readable event number
// (events below it are removed: hidden from every read, and deleted from
// the disk by a scavenge), `state` a stream_state, `max_count`/`max_age_s`
// its limits (0 = none), `custom` its custom metadata (JSON text), and
// `scavenged` the event number below which its removed events are gone from
// the disk too. Streams without a row are live with no limits.
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS events(
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
CREATE TABLE IF NOT EXISTS streams(
  stream_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots(
  source_uuid TEXT NOT NULL,
  stream_uuid TEXT NOT NULL,
  version INTEGER NOT NULL,
  source_type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY(source_uuid, stream_uuid, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions(
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  selector TEXT NOT NULL,
  checkpoint INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_meta(
  stream_id TEXT PRIMARY KEY,
  first INTEGER NOT NULL,
  state INTEGER NOT NULL,
  max_count INTEGER NOT NULL,
  max_age_s INTEGER NOT NULL,
  custom TEXT NOT NULL,
  scavenged INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied(
  id INTEGER PRIMARY KEY CHECK (id = 0),
  idx INTEGER NOT NULL);
INSERT OR IGNORE INTO applied(id, idx) VALUES (0, 0);
CREATE TABLE IF NOT EXISTS figures(
  id INTEGER PRIMARY KEY CHECK (id = 0),
  events INTEGER NOT NULL,
  streams INTEGER NOT NULL);
)sql";

// `figures` holds the store's counts, kept by every apply in the same
// transaction as its effects: `events`, the rows of `events` (a removed
// event counts until a scavenge deletes it), and `streams`, the streams that
// hold events and are not deleted. A store from before the table gets its
// row from one count when it is first opened for writing (below); every
// replica computes the same.
constexpr const char* count_figures_sql
  = "SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM streams s "
    "WHERE NOT EXISTS (SELECT 1 FROM stream_meta m WHERE m.stream_id = "
    "s.stream_id AND m.state != 0))";

constexpr const char* event_columns
  = "stream_id, event_number, position, event_id, event_type, data, "
    "metadata, content_type, created";

/// The same columns, of an `events` joined to `stream_meta`.
constexpr const char* joined_event_columns
  = "e.stream_id, e.event_number, e.position, e.event_id, e.event_type, "
    "e.data, e.metadata, e.content_type, e.created";

/// What became of a stream (`stream_meta.state`).
enum stream_state : int64_t {
  live = 0,
  /// Reads show no events and version -1 until an append recreates it.
  soft_deleted = 1,
  /// Gone for good: reads and appends are `stream_deleted`.
  hard_deleted = 2,
};

/// The microseconds of `max_age_s` seconds; the gateway bounds max_age_s so
/// that this does not overflow.
int64_t age_us(int64_t max_age_s) {
  return max_age_s * 1000000;
}

int64_t wall_clock_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

recorded_event read_event(const sqlite_stmt& s) {
  recorded_event e;
  e.stream_id = s.text(0);
  e.event_number = s.int64(1);
  e.position = s.int64(2);
  e.event_id = s.text(3);
  e.event_type = s.text(4);
  e.data = s.text(5);
  e.metadata = s.text(6);
  e.content_type = s.text(7);
  e.created_epoch_us = s.int64(8);
  return e;
}

snapshot_record read_snapshot(const sqlite_stmt& s) {
  snapshot_record r;
  r.source_uuid = s.text(0);
  r.stream_uuid = s.text(1);
  r.version = s.int64(2);
  r.source_type = s.text(3);
  r.data = s.text(4);
  r.metadata = s.text(5);
  r.created_epoch_us = s.int64(6);
  return r;
}

std::string sql_with_columns(const char* before, const char* after) {
  std::string sql = before;
  sql += event_columns;
  sql += after;
  return sql;
}

bool version_matches(const expected_version& ev, int64_t current) {
  switch (ev.kind) {
    case expected_version::any:
      return true;
    case expected_version::no_stream:
      return current == -1;
    case expected_version::stream_exists:
      return current >= 0;
    case expected_version::exact:
      return current == ev.value;
  }
  return false;
}

/// Runs `stmt` to completion when leaving the scope, also on exceptions.
struct end_read_guard {
  sqlite_stmt& stmt;
  ~end_read_guard() {
    try {
      stmt.run();
    } catch (...) { // NOLINT: the read's own error is the one to report
    }
  }
};

} // namespace

std::unique_ptr<sqlite_db> open_store_db(const std::string& path) {
  auto db = std::make_unique<sqlite_db>(path, sqlite_db::mode::read_write_create);
  // Takes effect only on a file without tables yet: an older store keeps
  // auto_vacuum=NONE (see state_machine::apply(scavenge_cmd)).
  db->exec("PRAGMA auto_vacuum=INCREMENTAL;");
  db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db->exec(schema_sql);
  return db;
}

int64_t store_disk_bytes(const std::string& path) {
  int64_t total = 0;
  for (auto& p : {path, path + "-wal"}) {
    struct stat info {};
    if (::stat(p.c_str(), &info) == 0)
      total += static_cast<int64_t>(info.st_size);
  }
  return total;
}

std::unique_ptr<sqlite_db> open_store_reader_db(const std::string& path) {
  auto db = std::make_unique<sqlite_db>(path, sqlite_db::mode::read_only);
  db->exec("PRAGMA query_only=1;");
  return db;
}

// -- state_machine ------------------------------------------------------------

/// Whether the events table has the event id index of this version's
/// schema. Stores created before it have a UNIQUE(stream_id, event_id)
/// index instead and keep it: rebuilding a large table would make a restart
/// take as long as the store's history.
///
/// The event id index has one column: event ids are mostly time-ordered
/// (UUIDv7, which the gateway assigns), so its inserts land on its last page,
/// where a (stream_id, event_id) index puts each append on the page of its
/// stream: one page more written per event, on every replica.
bool ensure_event_id_index(sqlite_db& db) {
  auto q = db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = "
                      "'index' AND tbl_name = 'events' AND sql IS NULL");
  q.step();
  bool old_schema = q.int64(0) >= 2; // both UNIQUE constraints
  if (old_schema)
    return false;
  db.exec("CREATE INDEX IF NOT EXISTS events_event_id ON events(event_id);");
  return true;
}

state_machine::state_machine(sqlite_db& db) : db_(db) {
  db_.exec(schema_sql);
  // The idempotence check looks events up by event id, then stream;
  // without statistics the planner could pick the (stream_id, ...) index
  // and scan a whole stream.
  find_event_id_ = db_.prepare(
    ensure_event_id_index(db_)
      ? "SELECT event_number, position FROM events INDEXED BY "
        "events_event_id WHERE event_id = ?2 AND stream_id = ?1"
      : "SELECT event_number, position FROM events "
        "WHERE stream_id = ?1 AND event_id = ?2");
  begin_ = db_.prepare("BEGIN IMMEDIATE");
  commit_ = db_.prepare("COMMIT");
  rollback_ = db_.prepare("ROLLBACK");
  savepoint_ = db_.prepare("SAVEPOINT cmd");
  release_ = db_.prepare("RELEASE cmd");
  rollback_to_ = db_.prepare("ROLLBACK TO cmd");
  set_applied_ = db_.prepare("UPDATE applied SET idx = ?1 WHERE id = 0");
  get_version_ = db_.prepare("SELECT version FROM streams WHERE stream_id = ?1");
  insert_event_ = db_.prepare(
    "INSERT INTO events(position, stream_id, event_number, event_id, "
    "event_type, data, metadata, content_type, created) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  upsert_stream_ = db_.prepare(
    "INSERT INTO streams(stream_id, version) VALUES (?1, ?2) "
    "ON CONFLICT(stream_id) DO UPDATE SET version = excluded.version");
  upsert_snapshot_ = db_.prepare(
    "INSERT OR REPLACE INTO snapshots(source_uuid, stream_uuid, version, "
    "source_type, data, metadata, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  delete_snapshot_ = db_.prepare(
    "DELETE FROM snapshots WHERE source_uuid = ?1 AND stream_uuid = ?2 AND "
    "version = ?3");
  get_subscription_ = db_.prepare(
    "SELECT type, selector, checkpoint FROM subscriptions WHERE name = ?1");
  insert_subscription_ = db_.prepare(
    "INSERT INTO subscriptions(name, type, selector, checkpoint) "
    "VALUES (?1, ?2, ?3, ?4)");
  set_checkpoint_ = db_.prepare(
    "UPDATE subscriptions SET checkpoint = MAX(checkpoint, ?2) WHERE name = ?1");
  delete_subscription_ = db_.prepare(
    "DELETE FROM subscriptions WHERE name = ?1 AND type = ?2 AND "
    "selector = ?3");
  get_meta_ = db_.prepare("SELECT first, state, max_count, max_age_s, custom "
                          "FROM stream_meta WHERE stream_id = ?1");
  upsert_meta_ = db_.prepare(
    "INSERT INTO stream_meta(stream_id, first, state, max_count, max_age_s, "
    "custom) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(stream_id) DO UPDATE "
    "SET first = excluded.first, state = excluded.state, max_count = "
    "excluded.max_count, max_age_s = excluded.max_age_s, custom = "
    "excluded.custom");
  // Events of a stream are created in number order (the leader's clock, so
  // nearly): the first one young enough ends what max_age_s removes.
  first_young_ = db_.prepare(
    "SELECT event_number FROM events WHERE stream_id = ?1 AND event_number "
    ">= ?2 AND created >= ?3 ORDER BY event_number ASC LIMIT 1");
  delete_stream_snapshots_ = db_.prepare(
    "DELETE FROM snapshots WHERE stream_uuid = ?1");
  // ?1: the store's default max_age_s.
  expiring_ = db_.prepare(
    "SELECT stream_id FROM stream_meta WHERE stream_id != '' AND state = 0 "
    "AND (max_age_s > 0 OR ?1 > 0) ORDER BY stream_id");
  scavenge_next_ = db_.prepare(
    "SELECT stream_id, scavenged, first FROM stream_meta WHERE scavenged < "
    "first ORDER BY stream_id LIMIT 1");
  // ?4: the store's last position, which stays.
  scavenge_delete_ = db_.prepare(
    "DELETE FROM events WHERE stream_id = ?1 AND event_number >= ?2 AND "
    "event_number < ?3 AND position != ?4");
  set_scavenged_ = db_.prepare(
    "UPDATE stream_meta SET scavenged = ?2 WHERE stream_id = ?1");
  auto q = db_.prepare("SELECT idx FROM applied WHERE id = 0");
  CXESDB_ASSERT(q.step());
  applied_index_ = static_cast<uint64_t>(q.int64(0));
  q = db_.prepare("SELECT EXISTS(SELECT 1 FROM stream_meta)");
  CXESDB_ASSERT(q.step());
  any_meta_ = q.int64(0) != 0;
  defaults_ = load_meta("").metadata;
  q = db_.prepare("SELECT COALESCE(MAX(position) + 1, 0) FROM events");
  CXESDB_ASSERT(q.step());
  next_position_ = q.int64(0);
  q = db_.prepare("SELECT events, streams FROM figures WHERE id = 0");
  if (q.step()) {
    figures_ = {q.int64(0), q.int64(1)};
  } else {
    q = db_.prepare(count_figures_sql);
    CXESDB_ASSERT(q.step());
    figures_ = {q.int64(0), q.int64(1)};
    db_.exec("INSERT INTO figures(id, events, streams) VALUES (0, "
             + std::to_string(figures_.events) + ", "
             + std::to_string(figures_.streams) + ")");
  }
  set_figures_ = db_.prepare(
    "UPDATE figures SET events = ?1, streams = ?2 WHERE id = 0");
}

std::vector<command_result>
state_machine::apply_batch(uint64_t first_index,
                           const std::vector<command>& cmds) {
  // Entries below first_index that this state machine never saw came with
  // a snapshot (a Raft group starts from one at index 1); callers check.
  CXESDB_ASSERT(first_index > applied_index_);
  std::vector<command_result> results;
  results.reserve(cmds.size());
  auto saved_position = next_position_;
  auto saved_figures = figures_;
  try {
    begin_.run();
    for (auto& cmd : cmds) {
      auto before = next_position_;
      auto figures_before = figures_;
      savepoint_.run();
      try {
        results.push_back(apply_one(cmd));
        release_.run();
      } catch (const sqlite_error& err) {
        // Only this command's effects go; the others of the batch stay.
        rollback_to_.run();
        release_.run();
        next_position_ = before;
        figures_ = figures_before;
        command_result r;
        r.code = result_code::storage_failed;
        r.message = err.what();
        results.push_back(std::move(r));
      }
    }
    set_applied_.bind(1, static_cast<int64_t>(first_index + cmds.size() - 1));
    set_applied_.run();
    if (figures_.events != saved_figures.events
        || figures_.streams != saved_figures.streams) {
      set_figures_.bind(1, figures_.events).bind(2, figures_.streams);
      set_figures_.run();
    }
    commit_.run();
  } catch (const sqlite_error& err) {
    try {
      rollback_.run();
    } catch (const sqlite_error&) { // NOLINT: not in a transaction any more
    }
    next_position_ = saved_position;
    figures_ = saved_figures;
    results.assign(cmds.size(), command_result{});
    for (auto& r : results) {
      r.code = result_code::storage_failed;
      r.message = err.what();
    }
    return results;
  }
  applied_index_ = first_index + cmds.size() - 1;
  return results;
}

command_result state_machine::apply_one(const command& cmd) {
  return std::visit([this](const auto& x) { return apply(x); }, cmd);
}

int64_t state_machine::stream_version(const std::string& stream) {
  get_version_.bind(1, stream);
  int64_t v = get_version_.step() ? get_version_.int64(0) : -1;
  get_version_.reset();
  return v;
}

command_result state_machine::apply(const append_cmd& cmd) {
  CXESDB_ASSERT(cmd.events.size() <= limits::batch_events_max);
  command_result r;
  auto meta = any_meta_ ? load_meta(cmd.stream) : meta_row{};
  // With store defaults, every written stream keeps where it begins.
  meta.exists = meta.exists || has_defaults();
  if (meta.state == hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  // The version the client sees: a soft-deleted stream has none, but its
  // new events are numbered after the deleted ones (`number`).
  auto number = stream_version(cmd.stream);
  auto current = meta.state == soft_deleted ? int64_t{-1} : number;
  // Idempotence first: a retry of an append that succeeded must succeed
  // again, even though its expected version no longer holds.
  size_t found = 0;
  bool in_order = true;
  int64_t first_number = -1;
  int64_t last_number = -1;
  int64_t last_position = -1;
  for (size_t i = 0; i < cmd.events.size(); ++i) {
    find_event_id_.bind(1, cmd.stream).bind(2, cmd.events[i].event_id);
    if (find_event_id_.step()) {
      auto number = find_event_id_.int64(0);
      if (found == 0)
        first_number = number;
      in_order = in_order && found == i
                 && number == first_number + static_cast<int64_t>(i);
      last_number = number;
      last_position = find_event_id_.int64(1);
      ++found;
    }
    find_event_id_.reset();
  }
  // The same id twice in one batch (the gateway refuses such a batch as
  // invalid_params; a command from elsewhere gets the same answer on every
  // replica): the second copy would be a duplicate of the first.
  if (found == 0 && cmd.events.size() > 1) {
    std::vector<std::string_view> ids;
    ids.reserve(cmd.events.size());
    for (auto& e : cmd.events)
      ids.emplace_back(e.event_id);
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
      r.code = result_code::duplicate_event;
      r.current_version = current;
      return r;
    }
  }
  if (found > 0) {
    if (found == cmd.events.size() && in_order) {
      r.version = last_number;
      r.position = last_position;
      return r;
    }
    r.code = result_code::duplicate_event;
    r.current_version = current;
    return r;
  }
  if (!version_matches(cmd.expected, current)) {
    r.code = result_code::wrong_expected_version;
    r.current_version = current;
    return r;
  }
  if (cmd.events.empty()) {
    r.version = current;
    return r;
  }
  for (auto& e : cmd.events) {
    ++number;
    insert_event_.bind(1, next_position_)
      .bind(2, cmd.stream)
      .bind(3, number)
      .bind(4, e.event_id)
      .bind(5, e.event_type)
      .bind(6, e.data)
      .bind(7, e.metadata)
      .bind(8, e.content_type)
      .bind(9, cmd.created_epoch_us);
    insert_event_.run();
    ++next_position_;
  }
  upsert_stream_.bind(1, cmd.stream).bind(2, number);
  upsert_stream_.run();
  figures_.events += static_cast<int64_t>(cmd.events.size());
  // A new stream, or a soft-deleted one that this append recreates.
  if (current == -1)
    ++figures_.streams;
  if (meta.exists) {
    meta.state = live;
    apply_limits(cmd.stream, number, meta, cmd.created_epoch_us);
    save_meta(cmd.stream, meta);
  }
  r.version = number;
  r.position = next_position_ - 1;
  r.appended = static_cast<int64_t>(cmd.events.size());
  return r;
}

state_machine::meta_row
state_machine::load_meta(const std::string& stream) {
  meta_row m;
  get_meta_.bind(1, stream);
  if (get_meta_.step()) {
    m.exists = true;
    m.first = get_meta_.int64(0);
    m.state = get_meta_.int64(1);
    m.metadata.max_count = get_meta_.int64(2);
    m.metadata.max_age_s = get_meta_.int64(3);
    m.metadata.custom = get_meta_.text(4);
  }
  get_meta_.reset();
  return m;
}

void state_machine::save_meta(const std::string& stream, const meta_row& m) {
  upsert_meta_.bind(1, stream)
    .bind(2, m.first)
    .bind(3, m.state)
    .bind(4, m.metadata.max_count)
    .bind(5, m.metadata.max_age_s)
    .bind(6, m.metadata.custom);
  upsert_meta_.run();
  any_meta_ = true;
}

void state_machine::apply_limits(const std::string& stream, int64_t version,
                                 meta_row& m, int64_t now_epoch_us) {
  auto max_count = m.metadata.max_count > 0 ? m.metadata.max_count
                                            : defaults_.max_count;
  auto max_age_s = m.metadata.max_age_s > 0 ? m.metadata.max_age_s
                                            : defaults_.max_age_s;
  if (stream.empty())
    return; // the defaults themselves
  if (max_count > 0)
    m.first = std::max(m.first, version - max_count + 1);
  if (max_age_s > 0 && m.first <= version) {
    first_young_.bind(1, stream)
      .bind(2, m.first)
      .bind(3, now_epoch_us - age_us(max_age_s));
    m.first = first_young_.step() ? first_young_.int64(0) : version + 1;
    first_young_.reset();
  }
}

command_result state_machine::apply(const delete_stream_cmd& cmd) {
  command_result r;
  auto m = load_meta(cmd.stream);
  auto version = stream_version(cmd.stream);
  auto current = m.state == live ? version : int64_t{-1};
  r.version = version;
  if (m.state == hard_deleted && !cmd.hard) {
    r.code = result_code::stream_deleted;
    return r;
  }
  // A retry of the delete that deleted it answers as the first one did;
  // only an exact expected version that never held fails.
  bool retry = (m.state == soft_deleted && !cmd.hard)
               || (m.state == hard_deleted && cmd.hard);
  bool matches = retry ? cmd.expected.kind != expected_version::exact
                           || cmd.expected.value == version
                       : version_matches(cmd.expected, current);
  if (!matches) {
    r.code = m.state == hard_deleted ? result_code::stream_deleted
                                     : result_code::wrong_expected_version;
    r.current_version = current;
    return r;
  }
  if (retry)
    return r;
  if (!cmd.hard && version < 0 && !m.exists)
    return r; // nothing to delete, nothing to remember
  if (m.state == live && version >= 0)
    --figures_.streams;
  m.state = cmd.hard ? hard_deleted : soft_deleted;
  m.first = std::max(m.first, version + 1);
  save_meta(cmd.stream, m);
  if (cmd.hard) {
    delete_stream_snapshots_.bind(1, cmd.stream);
    delete_stream_snapshots_.run();
  }
  return r;
}

command_result state_machine::apply(const truncate_stream_cmd& cmd) {
  CXESDB_ASSERT(cmd.before >= 0);
  command_result r;
  auto m = load_meta(cmd.stream);
  r.version = stream_version(cmd.stream);
  if (m.state == hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  if (cmd.before > m.first) {
    m.first = cmd.before;
    save_meta(cmd.stream, m);
  }
  r.first = m.first;
  return r;
}

command_result state_machine::apply(const set_stream_metadata_cmd& cmd) {
  command_result r;
  auto m = load_meta(cmd.stream);
  r.version = stream_version(cmd.stream);
  if (m.state == hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  m.metadata = cmd.metadata;
  apply_limits(cmd.stream, r.version, m, cmd.now_epoch_us);
  save_meta(cmd.stream, m);
  if (cmd.stream.empty())
    defaults_ = cmd.metadata;
  r.first = m.first;
  return r;
}

command_result state_machine::apply(const scavenge_cmd& cmd) {
  command_result r;
  if (cmd.expire) {
    std::vector<std::string> ids;
    expiring_.bind(1, defaults_.max_age_s);
    while (expiring_.step())
      ids.push_back(expiring_.text(0));
    expiring_.reset();
    for (auto& id : ids) {
      auto m = load_meta(id);
      auto before = m.first;
      apply_limits(id, stream_version(id), m, cmd.now_epoch_us);
      if (m.first != before)
        save_meta(id, m);
    }
  }
  // Event numbers of a stream have no gaps: a range of them is at most that
  // many rows, deleted through the stream's index.
  auto budget = cmd.rows_max;
  while (budget > 0 && scavenge_next_.step()) {
    auto id = scavenge_next_.text(0);
    auto from = scavenge_next_.int64(1);
    auto upto = std::min(scavenge_next_.int64(2), from + budget);
    scavenge_next_.reset();
    scavenge_delete_.bind(1, id).bind(2, from).bind(3, upto).bind(
      4, next_position_ - 1);
    scavenge_delete_.run();
    r.removed += db_.changes();
    figures_.events -= db_.changes();
    budget -= upto - from;
    set_scavenged_.bind(1, id).bind(2, upto);
    set_scavenged_.run();
  }
  scavenge_next_.reset();
  r.more = scavenge_next_.step();
  scavenge_next_.reset();
  if (cmd.pages_max > 0) {
    auto pages = [&] {
      auto s = db_.prepare("PRAGMA page_count");
      CXESDB_ASSERT(s.step());
      return s.int64(0);
    };
    auto before = pages();
    auto vacuum = db_.prepare("PRAGMA incremental_vacuum("
                              + std::to_string(cmd.pages_max) + ")");
    while (vacuum.step()) {
    }
    auto s = db_.prepare("PRAGMA page_size");
    CXESDB_ASSERT(s.step());
    r.reclaimed_bytes = (before - pages()) * s.int64(0);
  }
  return r;
}

command_result state_machine::apply(const record_snapshot_cmd& cmd) {
  auto& s = cmd.snapshot;
  upsert_snapshot_.bind(1, s.source_uuid)
    .bind(2, s.stream_uuid)
    .bind(3, s.version)
    .bind(4, s.source_type)
    .bind(5, s.data)
    .bind(6, s.metadata)
    .bind(7, s.created_epoch_us);
  upsert_snapshot_.run();
  return command_result{};
}

command_result state_machine::apply(const delete_snapshot_cmd& cmd) {
  delete_snapshot_.bind(1, cmd.source_uuid)
    .bind(2, cmd.stream_uuid)
    .bind(3, cmd.version);
  delete_snapshot_.run();
  command_result r;
  if (db_.changes() == 0)
    r.code = result_code::not_found;
  return r;
}

command_result state_machine::apply(const save_subscription_cmd& cmd) {
  command_result r;
  get_subscription_.bind(1, cmd.name);
  if (get_subscription_.step()) {
    auto same = get_subscription_.text(0) == cmd.type
                && get_subscription_.text(1) == cmd.selector;
    r.checkpoint = get_subscription_.int64(2);
    get_subscription_.reset();
    if (!same)
      r.code = result_code::already_exists;
    return r;
  }
  get_subscription_.reset();
  switch (cmd.start.kind) {
    case start_from::origin:
      r.checkpoint = -1;
      break;
    case start_from::current:
      r.checkpoint = next_position_ - 1;
      break;
    case start_from::position:
      r.checkpoint = cmd.start.value - 1;
      break;
  }
  insert_subscription_.bind(1, cmd.name)
    .bind(2, cmd.type)
    .bind(3, cmd.selector)
    .bind(4, r.checkpoint);
  insert_subscription_.run();
  return r;
}

command_result state_machine::apply(const checkpoint_cmd& cmd) {
  command_result r;
  set_checkpoint_.bind(1, cmd.name).bind(2, cmd.checkpoint);
  set_checkpoint_.run();
  if (db_.changes() == 0) {
    r.code = result_code::not_found;
    return r;
  }
  get_subscription_.bind(1, cmd.name);
  CXESDB_ASSERT(get_subscription_.step());
  r.checkpoint = get_subscription_.int64(2);
  get_subscription_.reset();
  return r;
}

command_result state_machine::apply(const remove_subscription_cmd& cmd) {
  command_result r;
  delete_subscription_.bind(1, cmd.name).bind(2, cmd.type).bind(3, cmd.selector);
  delete_subscription_.run();
  if (db_.changes() == 0)
    r.code = result_code::not_found;
  return r;
}

// -- store_queries ------------------------------------------------------------

store_queries::store_queries(sqlite_db& db) : db_(db) {
  // Each query reads one consistent snapshot of the database.
  begin_ = db_.prepare("BEGIN DEFERRED");
  end_ = db_.prepare("COMMIT");
  get_version_ = db_.prepare("SELECT version FROM streams WHERE stream_id = ?1");
  // ?2..?3: the event numbers asked for, clipped to what is readable; ?4:
  // the oldest `created` max_age_s leaves readable.
  stream_fwd_ = db_.prepare(sql_with_columns(
    "SELECT ", " FROM events WHERE stream_id = ?1 AND event_number >= ?2 "
               "AND event_number <= ?3 AND created >= ?4 "
               "ORDER BY event_number ASC LIMIT ?5"));
  stream_bwd_ = db_.prepare(sql_with_columns(
    "SELECT ", " FROM events WHERE stream_id = ?1 AND event_number >= ?2 "
               "AND event_number <= ?3 AND created >= ?4 "
               "ORDER BY event_number DESC LIMIT ?5"));
  all_fwd_ = db_.prepare(sql_with_columns(
    "SELECT ", " FROM events WHERE position >= ?1 ORDER BY position ASC "
               "LIMIT ?2"));
  all_bwd_ = db_.prepare(sql_with_columns(
    "SELECT ", " FROM events WHERE position <= ?1 ORDER BY position DESC "
               "LIMIT ?2"));
  // Within one stream, positions grow with event numbers: the stream's index
  // serves this scan in position order.
  stream_from_position_ = db_.prepare(sql_with_columns(
    "SELECT ", " FROM events WHERE stream_id = ?1 AND position >= ?2 "
               "AND event_number >= ?4 AND created >= ?5 "
               "ORDER BY event_number ASC LIMIT ?3"));
  // Once a stream was deleted, truncated or given limits, `$all` reads
  // leave out what its `stream_meta` row hides; ?3 is the query's clock.
  // ?4: the store's default max_age_s.
  constexpr const char* hidden_filter
    = " FROM events e LEFT JOIN stream_meta m ON m.stream_id = e.stream_id "
      "WHERE e.position %s ?1 AND COALESCE(m.state, 0) != 2 AND "
      "e.event_number >= COALESCE(m.first, 0) AND "
      "(COALESCE(NULLIF(m.max_age_s, 0), ?4) = 0 OR e.created >= ?3 - "
      "COALESCE(NULLIF(m.max_age_s, 0), ?4) * 1000000) "
      "ORDER BY e.position %s LIMIT ?2";
  auto visible_sql = [&](const char* op, const char* order) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), hidden_filter, op, order);
    return std::string{"SELECT "} + joined_event_columns + buf;
  };
  all_fwd_visible_ = db_.prepare(visible_sql(">=", "ASC"));
  all_bwd_visible_ = db_.prepare(visible_sql("<=", "DESC"));
  get_meta_ = db_.prepare("SELECT first, state, max_age_s FROM stream_meta "
                          "WHERE stream_id = ?1");
  any_meta_ = db_.prepare("SELECT EXISTS(SELECT 1 FROM stream_meta)");
  last_position_ = db_.prepare("SELECT COALESCE(MAX(position), -1) FROM events");
  applied_ = db_.prepare("SELECT idx FROM applied WHERE id = 0");
  // Deleted streams (soft or hard) are left out.
  constexpr const char* not_deleted
    = "NOT EXISTS(SELECT 1 FROM stream_meta m WHERE m.stream_id = "
      "streams.stream_id AND m.state != 0) ";
  streams_first_ = db_.prepare(std::string{"SELECT stream_id FROM streams "
                                           "WHERE "}
                               + not_deleted
                               + "ORDER BY stream_id ASC LIMIT ?1");
  streams_after_ = db_.prepare(std::string{"SELECT stream_id FROM streams "
                                           "WHERE stream_id > ?1 AND "}
                               + not_deleted
                               + "ORDER BY stream_id ASC LIMIT ?2");
  constexpr const char* snap_cols = "SELECT source_uuid, stream_uuid, "
                                    "version, source_type, data, metadata, "
                                    "created FROM snapshots ";
  snapshot_at_ = db_.prepare(std::string{snap_cols}
                             + "WHERE source_uuid = ?1 AND stream_uuid = ?2 "
                               "AND version = ?3");
  snapshot_latest_ = db_.prepare(std::string{snap_cols}
                                 + "WHERE source_uuid = ?1 AND stream_uuid = "
                                   "?2 ORDER BY version DESC LIMIT 1");
  snapshots_list_ = db_.prepare(
    std::string{snap_cols}
    + "WHERE (?1 = '' OR source_uuid = ?1) AND (?2 = '' OR stream_uuid = ?2) "
      "ORDER BY source_uuid, stream_uuid, version LIMIT 100000");
  subscriptions_list_ = db_.prepare(
    "SELECT name, type, selector, checkpoint FROM subscriptions ORDER BY name");
}

query_result store_queries::run_one(const store_figures_query&) {
  query_result r;
  // A store last written by an older version has no `figures` row until
  // its writer opens it again: count instead (this once).
  auto counts = [this]() -> sqlite_stmt {
    try {
      auto q = db_.prepare("SELECT events, streams FROM figures WHERE id = 0");
      if (q.step())
        return q;
    } catch (const sqlite_error&) { // no such table
    }
    auto q = db_.prepare(count_figures_sql);
    CXESDB_ASSERT(q.step());
    return q;
  }();
  r.figures.events = counts.int64(0);
  r.figures.streams = counts.int64(1);
  counts.reset();
  last_position_.step();
  r.head_position = last_position_.int64(0);
  last_position_.reset();
  CXESDB_ASSERT(applied_.step());
  r.figures.applied_index = applied_.int64(0);
  applied_.reset();
  if (auto name = sqlite3_db_filename(db_.handle(), "main"); name && *name)
    r.figures.bytes = store_disk_bytes(name);
  return r;
}

query_result store_queries::run(const query& q) {
  begin_.run();
  end_read_guard guard{end_};
  try {
    return std::visit([this](const auto& x) { return run_one(x); }, q);
  } catch (const sqlite_error& err) {
    query_result r;
    r.code = result_code::storage_failed;
    r.message = err.what();
    return r;
  }
}

store_queries::visibility
store_queries::visible(const std::string& stream, int64_t now_epoch_us) {
  visibility v;
  get_meta_.bind(1, stream);
  if (get_meta_.step()) {
    v.first = get_meta_.int64(0);
    v.hard_deleted = get_meta_.int64(1) == hard_deleted;
    v.soft_deleted = get_meta_.int64(1) == soft_deleted;
    v.max_age_s = get_meta_.int64(2);
  }
  get_meta_.reset();
  if (v.max_age_s == 0)
    v.max_age_s = default_max_age_s();
  if (v.max_age_s > 0) {
    auto now = now_epoch_us != 0 ? now_epoch_us : wall_clock_us();
    v.created_min = now - age_us(v.max_age_s);
  }
  return v;
}

int64_t store_queries::default_max_age_s() {
  get_meta_.bind(1, std::string{});
  int64_t age = get_meta_.step() ? get_meta_.int64(2) : 0;
  get_meta_.reset();
  return age;
}

bool store_queries::any_meta() {
  CXESDB_ASSERT(any_meta_.step());
  bool any = any_meta_.int64(0) != 0;
  any_meta_.reset();
  return any;
}

query_result store_queries::run_one(const read_stream_query& q) {
  CXESDB_ASSERT(q.count >= 1 && q.count <= limits::read_count_max);
  query_result r;
  auto v = visible(q.stream, q.now_epoch_us);
  if (v.hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  auto& s = q.backward ? stream_bwd_ : stream_fwd_;
  int64_t lo = v.first;
  int64_t hi = INT64_MAX;
  if (!q.backward)
    lo = std::max(lo, q.start < 0 ? int64_t{0} : q.start);
  else if (q.start >= 0)
    hi = q.start;
  s.bind(1, q.stream).bind(2, lo).bind(3, hi).bind(4, v.created_min).bind(5,
                                                                  q.count);
  while (s.step())
    r.events.push_back(read_event(s));
  s.reset();
  return r;
}

query_result store_queries::run_one(const stream_version_query& q) {
  query_result r;
  auto v = visible(q.stream, 0);
  if (v.hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  get_version_.bind(1, q.stream);
  r.version = get_version_.step() ? get_version_.int64(0) : -1;
  get_version_.reset();
  if (v.soft_deleted)
    r.version = -1;
  return r;
}

query_result store_queries::run_one(const stream_metadata_query& q) {
  query_result r;
  auto v = visible(q.stream, 0);
  if (v.hard_deleted) {
    r.code = result_code::stream_deleted;
    return r;
  }
  auto s = db_.prepare("SELECT max_count, max_age_s, custom FROM stream_meta "
                       "WHERE stream_id = ?1");
  s.bind(1, q.stream);
  if (s.step()) {
    r.metadata.max_count = s.int64(0);
    r.metadata.max_age_s = s.int64(1);
    r.metadata.custom = s.text(2);
  }
  return r;
}

query_result store_queries::run_one(const list_streams_query& q) {
  CXESDB_ASSERT(q.limit >= 1 && q.limit <= limits::streams_page_max);
  query_result r;
  // One more than asked tells whether another page exists.
  auto& s = q.has_after ? streams_after_ : streams_first_;
  if (q.has_after)
    s.bind(1, q.after).bind(2, q.limit + 1);
  else
    s.bind(1, q.limit + 1);
  while (s.step())
    r.streams.push_back(s.text(0));
  s.reset();
  if (static_cast<int64_t>(r.streams.size()) > q.limit) {
    r.streams.pop_back();
    r.has_next = true;
    r.next_after = r.streams.back();
  }
  return r;
}

query_result store_queries::run_one(const read_all_query& q) {
  CXESDB_ASSERT(q.count >= 1 && q.count <= limits::read_count_max);
  query_result r;
  CXESDB_ASSERT(last_position_.step());
  r.head_position = last_position_.int64(0);
  last_position_.reset();
  int64_t from = q.from;
  if (from < 0)
    from = q.backward ? r.head_position : 0;
  if (!q.stream.empty()) {
    CXESDB_ASSERT(!q.backward);
    auto v = visible(q.stream, q.now_epoch_us);
    if (!v.hard_deleted) {
      stream_from_position_.bind(1, q.stream)
        .bind(2, from)
        .bind(3, q.count)
        .bind(4, v.first)
        .bind(5, v.created_min);
      while (stream_from_position_.step())
        r.events.push_back(read_event(stream_from_position_));
      stream_from_position_.reset();
    }
  } else if (any_meta()) {
    auto& s = q.backward ? all_bwd_visible_ : all_fwd_visible_;
    s.bind(1, from)
      .bind(2, q.count)
      .bind(3, q.now_epoch_us != 0 ? q.now_epoch_us : wall_clock_us())
      .bind(4, default_max_age_s());
    while (s.step())
      r.events.push_back(read_event(s));
    s.reset();
  } else {
    auto& s = q.backward ? all_bwd_ : all_fwd_;
    s.bind(1, from).bind(2, q.count);
    while (s.step())
      r.events.push_back(read_event(s));
    s.reset();
  }
  if (!q.backward) {
    r.has_next = true;
    r.next_position = r.events.empty() ? from : r.events.back().position + 1;
  } else if (!r.events.empty() && r.events.back().position > 0) {
    r.has_next = true;
    r.next_position = r.events.back().position - 1;
  }
  return r;
}

query_result store_queries::run_one(const read_snapshot_query& q) {
  query_result r;
  auto& s = q.version < 0 ? snapshot_latest_ : snapshot_at_;
  s.bind(1, q.source_uuid).bind(2, q.stream_uuid);
  if (q.version >= 0)
    s.bind(3, q.version);
  if (s.step())
    r.snapshots.push_back(read_snapshot(s));
  else
    r.code = result_code::not_found;
  s.reset();
  return r;
}

query_result store_queries::run_one(const list_subscriptions_query&) {
  query_result r;
  while (subscriptions_list_.step())
    r.subscriptions.push_back(subscription_record{
      subscriptions_list_.text(0), subscriptions_list_.text(1),
      subscriptions_list_.text(2), subscriptions_list_.int64(3)});
  subscriptions_list_.reset();
  return r;
}

query_result store_queries::run_one(const list_snapshots_query& q) {
  query_result r;
  snapshots_list_.bind(1, q.source_uuid).bind(2, q.stream_uuid);
  while (snapshots_list_.step())
    r.snapshots.push_back(read_snapshot(snapshots_list_));
  snapshots_list_.reset();
  return r;
}

} // namespace cxesdb::stores
