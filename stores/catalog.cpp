#include "stores/catalog.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

namespace cxesdb::stores {

bool valid_store_id(const std::string& id) {
  if (id.empty() || id.size() > 63 || id[0] < 'a' || id[0] > 'z')
    return false;
  for (auto c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

const char* to_string(store_status x) {
  switch (x) {
    case store_status::starting:
      return "starting";
    case store_status::running:
      return "running";
    case store_status::stopping:
      return "stopping";
    case store_status::unavailable:
      return "unavailable";
  }
  return "unavailable";
}

std::unique_ptr<store_files> store_files::open(const std::string& id,
                                               const std::string& dir,
                                               size_t reader_count) {
  auto f = std::make_unique<store_files>();
  f->id = id;
  f->db_path = dir + "/store.db";
  f->raft_db_path = dir + "/raft.db";
  f->write_db = open_store_db(f->db_path);
  f->machine = std::make_unique<state_machine>(*f->write_db);
  for (size_t i = 0; i < reader_count; ++i) {
    auto r = std::make_unique<reader>();
    r->db = open_store_reader_db(f->db_path);
    r->queries = std::make_unique<store_queries>(*r->db);
    f->readers.push_back(std::move(r));
  }
  return f;
}

store_queries& store_files::reader::open(const std::string& path) {
  if (!queries) {
    db = open_store_reader_db(path);
    queries = std::make_unique<store_queries>(*db);
  }
  return *queries;
}

state_machine& store_files::writer() {
  if (!machine) {
    write_db = open_store_db(db_path);
    machine = std::make_unique<state_machine>(*write_db);
  }
  return *machine;
}

void store_files::hibernate() {
  for (auto& r : readers) {
    std::lock_guard<std::mutex> guard{r->mtx};
    r->queries.reset();
    r->db.reset();
  }
  std::lock_guard<std::mutex> guard{write_mtx};
  if (write_db)
    write_db->exec("PRAGMA wal_checkpoint(TRUNCATE);");
  machine.reset();
  write_db.reset();
}

size_t store_files::connections_open() {
  size_t n = 0;
  for (auto& r : readers) {
    std::lock_guard<std::mutex> guard{r->mtx};
    n += r->db ? 1 : 0;
  }
  std::lock_guard<std::mutex> guard{write_mtx};
  return n + (write_db ? 1 : 0);
}

std::string to_json_text(const store_config& cfg) {
  nlohmann::json j{{"timeout_ms", cfg.timeout_ms},
                   {"replication_factor", cfg.replication_factor},
                   {"tags", cfg.tags},
                   {"data_dir", cfg.data_dir},
                   {"created_at", cfg.created_at}};
  j["description"] = cfg.has_description ? nlohmann::json(cfg.description)
                                         : nlohmann::json(nullptr);
  if (cfg.retention_max_count > 0 || cfg.retention_max_age_s > 0)
    j["retention"] = {{"max_count", cfg.retention_max_count},
                      {"max_age_s", cfg.retention_max_age_s}};
  return j.dump();
}

store_config config_from_json_text(const std::string& id,
                                   const std::string& text) {
  auto j = nlohmann::json::parse(text);
  store_config cfg;
  cfg.id = id;
  cfg.timeout_ms = j.at("timeout_ms").get<int64_t>();
  cfg.replication_factor = j.at("replication_factor").get<int64_t>();
  cfg.tags = j.at("tags").get<std::vector<std::string>>();
  cfg.data_dir = j.at("data_dir").get<std::string>();
  cfg.created_at = j.at("created_at").get<std::string>();
  if (j.at("description").is_string()) {
    cfg.has_description = true;
    cfg.description = j["description"].get<std::string>();
  }
  // Stores made before retention existed have none.
  if (auto r = j.find("retention"); r != j.end() && r->is_object()) {
    cfg.retention_max_count = r->value("max_count", int64_t{0});
    cfg.retention_max_age_s = r->value("max_age_s", int64_t{0});
  }
  return cfg;
}

} // namespace cxesdb::stores
