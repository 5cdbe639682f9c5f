// The stream lifecycle commands: delete-stream, truncate, stream-meta,
// scavenge (protocol section 9, "Stream lifecycle and retention"), and the
// store backups: backup, backups, restore (section 10).

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

request build_delete(const parsed_args& args, const command_context&) {
  request req{"delete_stream", {{"stream", args.positional[0]}}};
  if (auto e = args.get("expected")) {
    if (*e == "any" || *e == "no_stream" || *e == "stream_exists")
      req.params["expected_version"] = *e;
    else
      req.params["expected_version"] = parse_int(*e, "--expected");
  }
  if (args.has("hard"))
    req.params["hard"] = true;
  return req;
}

void render_deleted(const nlohmann::json& result, const request& req,
                    std::ostream& out) {
  out << (req.params.value("hard", false) ? "hard deleted" : "deleted")
      << " stream " << cell_text(req.params["stream"]) << " at version "
      << cell_text(result.value("version", nlohmann::json{})) << '\n';
}

request build_truncate(const parsed_args& args, const command_context&) {
  return {"truncate_stream",
          {{"stream", args.positional[0]},
           {"before", parse_int(args.positional[1], "BEFORE")}}};
}

void render_truncated(const nlohmann::json& result, const request& req,
                      std::ostream& out) {
  out << "truncated stream " << cell_text(req.params["stream"])
      << ": first readable event "
      << cell_text(result.value("first", nlohmann::json{})) << '\n';
}

/// `stream-meta STREAM` reads the metadata; with any option it sets it as a
/// whole (the protocol's set_stream_metadata replaces it).
request build_meta(const parsed_args& args, const command_context&) {
  auto& stream = args.positional[0];
  bool set = args.has("max-count") || args.has("max-age") || args.has("custom")
             || args.has("clear");
  if (!set)
    return {"get_stream_metadata", {{"stream", stream}}};
  request req{"set_stream_metadata", {{"stream", stream}}};
  if (auto v = args.get("max-count"))
    req.params["max_count"] = parse_int(*v, "--max-count");
  if (auto v = args.get("max-age"))
    req.params["max_age_s"] = parse_int(*v, "--max-age");
  if (auto v = args.get("custom"))
    req.params["custom"] = parse_json(*v, "--custom");
  return req;
}

void render_meta(const nlohmann::json& result, const request&,
                 std::ostream& out) {
  auto md = result.value("metadata", nlohmann::json::object());
  if (md.empty()) {
    out << "(no metadata)\n";
    return;
  }
  out << pretty_json(md) << '\n';
}

request build_scavenge(const parsed_args&, const command_context&) {
  return {"scavenge_store", nlohmann::json::object()};
}

void render_scavenged(const nlohmann::json& result, const request&,
                      std::ostream& out) {
  out << "removed " << cell_text(result.value("removed_events", nlohmann::json{}))
      << " events, reclaimed "
      << cell_text(result.value("reclaimed_bytes", nlohmann::json{}))
      << " bytes\n";
}

request build_backup(const parsed_args& args, const command_context&) {
  return {"backup_store", {{"name", args.positional[0]}}};
}

void render_backup(const nlohmann::json& result, const request& req,
                   std::ostream& out) {
  out << "backup " << cell_text(result.value("backup", nlohmann::json{}))
      << " of store "
      << cell_text(req.params.value("store", nlohmann::json("the default")))
      << ": " << cell_text(result.value("bytes", nlohmann::json{}))
      << " bytes, last position "
      << cell_text(result.value("last_position", nlohmann::json{})) << '\n';
}

request build_backups(const parsed_args&, const command_context&) {
  return {"list_backups", nlohmann::json::object()};
}

void render_backups(const nlohmann::json& result, const request&,
                    std::ostream& out) {
  table_printer table{{"name", "store", "bytes", "last_position", "created"}};
  for (auto& b : result.value("backups", nlohmann::json::array()))
    table.add_row({cell_text(b.value("name", nlohmann::json{})),
                   cell_text(b.value("store", nlohmann::json{})),
                   cell_text(b.value("bytes", nlohmann::json{})),
                   cell_text(b.value("last_position", nlohmann::json{})),
                   cell_text(b.value("created", nlohmann::json{}))});
  table.print(out);
  out << '(' << table.rows()
      << (table.rows() == 1 ? " backup)\n" : " backups)\n");
}

request build_restore(const parsed_args& args, const command_context&) {
  return {"restore_store",
          {{"backup", args.positional[0]}, {"store", args.positional[1]}}};
}

void render_restored(const nlohmann::json& result, const request& req,
                     std::ostream& out) {
  out << "restored backup " << cell_text(req.params["backup"])
      << " as store " << cell_text(result.value("store", nlohmann::json{}))
      << " (" << cell_text(result.value("status", nlohmann::json{})) << ")\n";
}

} // namespace

void add_lifecycle_commands(std::vector<command_spec>& table) {
  table.push_back(
    {"delete-stream", "delete-stream STREAM [--expected E] [--hard]",
     "delete a stream; --hard for good (delete_stream)",
     {{"expected", "E",
       "expected version: any (default), no_stream, stream_exists or N"},
      {"hard", "", "delete for good: the stream can never be used again"}},
     1, 1, true, false, build_delete, render_deleted});
  table.push_back({"truncate", "truncate STREAM BEFORE",
                   "hide a stream's events numbered below BEFORE "
                   "(truncate_stream)",
                   {}, 2, 2, true, false, build_truncate, render_truncated});
  table.push_back(
    {"stream-meta",
     "stream-meta STREAM [--max-count N] [--max-age S] [--custom JSON] "
     "[--clear]",
     "print a stream's metadata, or replace it with the options given "
     "(get_stream_metadata, set_stream_metadata)",
     {{"max-count", "N", "keep the newest N events readable"},
      {"max-age", "S", "hide events older than S seconds"},
      {"custom", "JSON", "a JSON object of your own"},
      {"clear", "", "remove every limit and the custom object"}},
     1, 1, true, false, build_meta, render_meta});
  table.push_back({"scavenge", "scavenge",
                   "delete removed events from the store's disk and return "
                   "the space (scavenge_store)",
                   {}, 0, 0, true, false, build_scavenge, render_scavenged});
  table.push_back({"backup", "backup NAME",
                   "take a consistent copy of the store, kept by the node "
                   "(backup_store)",
                   {}, 1, 1, true, false, build_backup, render_backup});
  table.push_back({"backups", "backups",
                   "list the node's backups (list_backups)", {}, 0, 0, false,
                   false, build_backups, render_backups});
  table.push_back({"restore", "restore BACKUP NEW_STORE",
                   "create the new store NEW_STORE from a backup and wait "
                   "until it runs (restore_store)",
                   {}, 2, 2, false, false, build_restore, render_restored});
}

} // namespace cxesdb::shell
