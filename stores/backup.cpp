#include "stores/backup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <optional>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "stores/catalog.hpp"
#include "stores/sqlite.hpp"
#include "stores/time_format.hpp"

namespace cxesdb::stores {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* db_suffix = ".db";
constexpr const char* meta_suffix = ".json";
constexpr const char* part_suffix = ".part";

backup_error error_of(errc reason, std::string message) {
  return backup_error{reason, std::move(message)};
}

/// Syncs a file or a directory (a rename in it) to the disk.
bool sync_path(const std::string& path, bool dir) {
  int fd = ::open(path.c_str(), dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0)
    return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

/// Copies the database `src` into a new file `dst` with SQLite's online
/// backup in one step (one read transaction on `src`: a consistent copy
/// while writers go on in WAL mode), as one self-contained file.
void copy_database(const std::string& src, const std::string& dst) {
  std::error_code ec;
  fs::remove(dst, ec);
  sqlite_db from{src, sqlite_db::mode::read_only};
  sqlite_db to{dst, sqlite_db::mode::read_write_create};
  auto b = sqlite3_backup_init(to.handle(), "main", from.handle(), "main");
  if (b == nullptr)
    throw sqlite_error{sqlite3_errcode(to.handle()),
                       std::string{"backup: "} + sqlite3_errmsg(to.handle())};
  auto rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE)
    throw sqlite_error{rc, std::string{"backup: "} + sqlite3_errstr(rc)};
  to.exec("PRAGMA journal_mode=DELETE;");
}

/// The last position and applied index of a store database.
std::pair<int64_t, int64_t> positions_of(const std::string& path) {
  sqlite_db db{path, sqlite_db::mode::read_only};
  auto q = db.prepare("SELECT COALESCE(MAX(position), -1) FROM events");
  int64_t last = -1;
  if (q.step())
    last = q.int64(0);
  auto a = db.prepare("SELECT idx FROM applied WHERE id = 0");
  if (!a.step())
    throw sqlite_error{SQLITE_CORRUPT, "not a store database"};
  return {last, a.int64(0)};
}

json to_json(const backup_info& b) {
  return json{{"name", b.name},
              {"store", b.store},
              {"bytes", b.bytes},
              {"last_position", b.last_position},
              {"created", b.created},
              {"config", json::parse(b.config_json)}};
}

/// Reads a backup's `.json`; nullopt when it is not one.
std::optional<backup_info> read_meta(const std::string& path,
                                     const std::string& name) {
  std::ifstream in{path};
  if (!in)
    return std::nullopt;
  auto j = json::parse(in, nullptr, false);
  if (!j.is_object())
    return std::nullopt;
  try {
    backup_info b;
    b.name = name;
    b.store = j.at("store").get<std::string>();
    b.bytes = j.at("bytes").get<int64_t>();
    b.last_position = j.at("last_position").get<int64_t>();
    b.created = j.at("created").get<std::string>();
    b.config_json = j.at("config").dump();
    if (!valid_store_id(b.store) || b.name != j.at("name").get<std::string>())
      return std::nullopt;
    return b;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// The backups being written in this process (by path): a second backup
/// of the same name meanwhile is `already_exists`, never a second writer of
/// the same files.
class reservations {
public:
  bool take(const std::string& path) {
    std::lock_guard<std::mutex> guard{mtx_};
    return taken_.insert(path).second;
  }

  void give_back(const std::string& path) {
    std::lock_guard<std::mutex> guard{mtx_};
    taken_.erase(path);
  }

private:
  std::mutex mtx_;
  std::set<std::string> taken_;
};

reservations& in_progress() {
  static reservations r;
  return r;
}

std::string db_file(const std::string& dir, const std::string& name) {
  return dir + "/" + name + db_suffix;
}

std::string meta_file(const std::string& dir, const std::string& name) {
  return dir + "/" + name + meta_suffix;
}

} // namespace

bool valid_backup_name(const std::string& name) {
  return name.size() <= backup_limits::name_bytes_max && valid_store_id(name);
}

namespace {

std::variant<backup_info, backup_error>
write_backup(const store_files& files, const std::string& config_json,
             const std::string& dir, const std::string& name,
             const backup_limits& limits) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return error_of(errc::internal_error,
                    "cannot create the backup directory " + dir + ": "
                      + ec.message());
  if (fs::exists(meta_file(dir, name), ec))
    return error_of(errc::already_exists, "backup " + name + " exists");
  if (list_backups(dir).size() >= limits.backups_max)
    return error_of(errc::too_large,
                    "the backup directory holds its maximum of "
                      + std::to_string(limits.backups_max)
                      + " backups (--max-backups)");
  backup_info b;
  b.name = name;
  b.store = files.id;
  b.config_json = config_json;
  auto part = db_file(dir, name) + part_suffix;
  try {
    copy_database(files.db_path, part);
    auto [last, applied] = positions_of(part);
    (void) applied;
    b.last_position = last;
  } catch (const std::exception& e) {
    fs::remove(part, ec);
    return error_of(errc::internal_error,
                    "backup of store " + files.id + ": " + e.what());
  }
  b.created = format_iso8601_us(now_epoch_us());
  b.bytes = static_cast<int64_t>(fs::file_size(part, ec));
  auto meta_part = meta_file(dir, name) + part_suffix;
  {
    std::ofstream out{meta_part, std::ios::trunc};
    out << to_json(b).dump() << "\n";
    if (!out)
      return error_of(errc::internal_error, "cannot write " + meta_part);
  }
  if (!sync_path(part, false) || !sync_path(meta_part, false))
    return error_of(errc::internal_error, "cannot sync backup " + name);
  fs::rename(part, db_file(dir, name), ec);
  if (!ec)
    fs::rename(meta_part, meta_file(dir, name), ec);
  if (ec)
    return error_of(errc::internal_error,
                    "cannot rename backup " + name + ": " + ec.message());
  sync_path(dir, true);
  return b;
}

} // namespace

std::variant<backup_info, backup_error>
take_backup(const store_files& files, const std::string& config_json,
            const std::string& dir, const std::string& name,
            const backup_limits& limits) {
  if (!valid_backup_name(name))
    return error_of(errc::invalid_params, "invalid backup name " + name);
  auto key = meta_file(dir, name);
  if (!in_progress().take(key))
    return error_of(errc::already_exists,
                    "backup " + name + " is being written");
  auto out = write_backup(files, config_json, dir, name, limits);
  in_progress().give_back(key);
  return out;
}

std::vector<backup_info> list_backups(const std::string& dir) {
  std::vector<backup_info> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return out;
  for (auto& entry : fs::directory_iterator{dir, ec}) {
    auto path = entry.path();
    if (path.extension() != meta_suffix)
      continue;
    auto name = path.stem().string();
    if (!valid_backup_name(name) || !fs::exists(db_file(dir, name), ec))
      continue;
    if (auto b = read_meta(path.string(), name))
      out.push_back(std::move(*b));
  }
  std::sort(out.begin(), out.end(),
            [](const backup_info& x, const backup_info& y) {
              return x.name < y.name;
            });
  return out;
}

std::variant<backup_info, backup_error> find_backup(const std::string& dir,
                                                    const std::string& name) {
  std::error_code ec;
  if (valid_backup_name(name) && fs::exists(db_file(dir, name), ec))
    if (auto b = read_meta(meta_file(dir, name), name))
      return *b;
  return error_of(errc::not_found, "no backup " + name);
}

std::variant<backup_info, backup_error>
prepare_restore(const std::string& dir, const std::string& name,
                const std::string& store_dir) {
  auto found = find_backup(dir, name);
  if (auto e = std::get_if<backup_error>(&found))
    return *e;
  auto b = std::get<backup_info>(found);
  std::error_code ec;
  fs::create_directories(store_dir, ec);
  if (ec)
    return error_of(errc::internal_error, "cannot create " + store_dir + ": "
                                            + ec.message());
  auto target = store_dir + "/store.db";
  for (auto suffix : {"-wal", "-shm", ""})
    fs::remove(target + suffix, ec);
  try {
    copy_database(db_file(dir, name), target);
    sqlite_db db{target, sqlite_db::mode::read_write_create};
    auto q = db.prepare("PRAGMA quick_check");
    if (!q.step() || q.text(0) != "ok")
      throw sqlite_error{SQLITE_CORRUPT, "the backup fails quick_check"};
    // The state of the new group's bootstrap snapshot (index 1).
    db.exec("UPDATE applied SET idx = 1 WHERE id = 0;");
    if (db.changes() != 1)
      throw sqlite_error{SQLITE_CORRUPT, "the backup is not a store database"};
  } catch (const std::exception& e) {
    fs::remove(target, ec);
    return error_of(errc::internal_error,
                    "restoring backup " + name + ": " + e.what());
  }
  if (!sync_path(target, false) || !sync_path(store_dir, true))
    return error_of(errc::internal_error, "cannot sync " + target);
  return b;
}

} // namespace cxesdb::stores
