#include "stores/store_image.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include <sqlite3.h>

#include "stores/catalog.hpp"
#include "stores/sqlite.hpp"
#include "stores/state_machine.hpp"

namespace cxesdb::stores {

namespace {

/// The applied index an image's `applied` table holds; nullopt when the
/// file is not a store database.
std::optional<uint64_t> applied_index_of(sqlite_db& db) {
  try {
    auto q = db.prepare("SELECT idx FROM applied WHERE id = 0");
    if (!q.step())
      return std::nullopt;
    return static_cast<uint64_t>(q.int64(0));
  } catch (const sqlite_error&) {
    return std::nullopt;
  }
}

/// Makes a rename in `dir` durable.
void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

std::optional<std::string> make_store_image(const store_files& files,
                                            uint64_t index,
                                            const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  try {
    sqlite_db src{files.db_path, sqlite_db::mode::read_only};
    sqlite_db dst{path, sqlite_db::mode::read_write_create};
    auto b = sqlite3_backup_init(dst.handle(), "main", src.handle(), "main");
    if (b == nullptr)
      return std::string{"backup: "} + sqlite3_errmsg(dst.handle());
    auto rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE)
      return std::string{"backup: "} + sqlite3_errstr(rc);
    // One self-contained file: no WAL beside it on the way.
    dst.exec("PRAGMA journal_mode=DELETE;");
    auto applied = applied_index_of(dst);
    if (!applied || *applied < index)
      return "the store's database is behind its compacted log ("
             + std::to_string(applied ? *applied : 0) + " < "
             + std::to_string(index) + ")";
  } catch (const sqlite_error& e) {
    return std::string{"image: "} + e.what();
  }
  return std::nullopt;
}

std::optional<std::string> install_store_image(store_files& files,
                                               uint64_t index,
                                               const std::string& path) {
  uint64_t image_applied = 0;
  try {
    sqlite_db img{path, sqlite_db::mode::read_only};
    auto q = img.prepare("PRAGMA quick_check");
    if (!q.step() || q.text(0) != "ok")
      return std::string{"the received image fails SQLite's quick_check"};
    auto applied = applied_index_of(img);
    if (!applied)
      return std::string{"the received image is not a store database"};
    if (*applied < index)
      return "the received image is behind its snapshot ("
             + std::to_string(*applied) + " < " + std::to_string(index) + ")";
    image_applied = *applied;
  } catch (const sqlite_error& e) {
    return std::string{"the received image: "} + e.what();
  }
  std::lock_guard<std::mutex> write_guard{files.write_mtx};
  std::vector<std::unique_lock<std::mutex>> read_guards;
  for (auto& r : files.readers)
    read_guards.emplace_back(r->mtx);
  std::error_code ec;
  try {
    if (files.writer().applied_index() >= image_applied) {
      std::filesystem::remove(path, ec);
      return std::nullopt;
    }
    // Everything of the old database in its main file, then closed: no
    // WAL of it may meet the new file. The connections open again on the
    // new file when jobs need them.
    files.write_db->exec("PRAGMA wal_checkpoint(TRUNCATE);");
    for (auto& r : files.readers) {
      r->queries.reset();
      r->db.reset();
    }
    files.machine.reset();
    files.write_db.reset();
    std::filesystem::remove(files.db_path + "-wal", ec);
    std::filesystem::remove(files.db_path + "-shm", ec);
    std::filesystem::rename(path, files.db_path);
    sync_dir(std::filesystem::path{files.db_path}.parent_path().string());
  } catch (const std::exception& e) {
    return std::string{"installing the image: "} + e.what();
  }
  return std::nullopt;
}

} // namespace cxesdb::stores
