#include "stores/catalog.hpp"

#include <cstdint>
#include <filesystem>
#include <stdexcept>

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

namespace {

/// The integer member `key` of `j`; throws when it is missing or not an
/// integer that fits int64_t (nlohmann's get<int64_t> would convert a float
/// such as 1e300, which is undefined behaviour).
int64_t integer_at(const nlohmann::json& j, const char* key) {
  auto& v = j.at(key);
  if (!v.is_number_integer()
      || (v.is_number_unsigned()
          && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
    throw std::runtime_error(std::string{key} + " must be an integer");
  return v.get<int64_t>();
}

} // namespace

store_config config_from_json_text(const std::string& id,
                                   const std::string& text) {
  auto j = nlohmann::json::parse(text);
  store_config cfg;
  cfg.id = id;
  cfg.timeout_ms = integer_at(j, "timeout_ms");
  cfg.replication_factor = integer_at(j, "replication_factor");
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

namespace {

/// The string member `key` of object `j`, or "" (absent, or not a string).
std::string string_member(const nlohmann::json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>()
                                        : std::string{};
}

} // namespace

catalog_event decode_catalog_event(const std::string& stream_id,
                                   const std::string& event_type,
                                   const std::string& data) {
  using kind = catalog_event::kind;
  catalog_event out;
  auto d = nlohmann::json::parse(data, nullptr, false);
  if (d.is_discarded())
    return out;
  if (stream_id == "nodes") {
    if (event_type == "node_joined") {
      out.node = string_member(d, "name");
      if (out.node.empty())
        return out;
      out.address = string_member(d, "address");
      out.what = kind::node_joined;
    } else if (event_type == "node_left") {
      out.node = string_member(d, "name");
      out.what = kind::node_left;
    }
    return out;
  }
  if (stream_id.rfind("store-", 0) != 0 || !valid_store_id(stream_id.substr(6)))
    return out;
  out.store = stream_id.substr(6);
  if (event_type == "store_created") {
    out.what = kind::store_created;
    try {
      out.config = config_from_json_text(out.store, d.at("config").dump());
      out.founders = d.at("founders").get<std::vector<std::string>>();
      // restore_store: the backup the founder starts the store from.
      if (auto r = d.find("restored_from"); r != d.end() && r->is_string())
        out.restored_from = r->get<std::string>();
      out.config_ok = true;
    } catch (const std::exception&) {
      out.config = store_config{};
      out.config.id = out.store;
      out.founders.clear();
      out.restored_from.clear();
    }
  } else if (event_type == "store_removed") {
    out.what = kind::store_removed;
  } else {
    out.what = kind::store_other;
  }
  return out;
}

} // namespace cxesdb::stores
