// The snapshot commands: record, read, delete and list snapshots
// (protocol section 5, "Snapshots").

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

request build_record(const parsed_args& args, const command_context&) {
  auto& pos = args.positional;
  request req{"record_snapshot",
              {{"source_uuid", pos[0]},
               {"stream_uuid", pos[1]},
               {"version", parse_int(pos[2], "VERSION")},
               {"data", parse_json(pos[3], "DATA_JSON")}}};
  if (auto m = args.get("metadata"))
    req.params["metadata"] = parse_json(*m, "--metadata");
  if (auto t = args.get("source-type"))
    req.params["source_type"] = *t;
  return req;
}

void render_recorded(const nlohmann::json&, const request& req,
                     std::ostream& out) {
  out << "recorded snapshot " << cell_text(req.params["source_uuid"]) << ' '
      << cell_text(req.params["stream_uuid"]) << " version "
      << cell_text(req.params["version"]) << '\n';
}

request build_read(const parsed_args& args, const command_context&) {
  request req{"read_snapshot",
              {{"source_uuid", args.positional[0]},
               {"stream_uuid", args.positional[1]}}};
  if (auto v = args.get("version"))
    req.params["version"] = parse_int(*v, "--version");
  return req;
}

void render_snapshot(const nlohmann::json& result, const request&,
                     std::ostream& out) {
  out << pretty_json(result.value("snapshot", nlohmann::json{}),
                     snapshot_key_order())
      << '\n';
}

request build_delete(const parsed_args& args, const command_context&) {
  return {"delete_snapshot",
          {{"source_uuid", args.positional[0]},
           {"stream_uuid", args.positional[1]},
           {"version", parse_int(args.positional[2], "VERSION")}}};
}

void render_deleted(const nlohmann::json&, const request& req,
                    std::ostream& out) {
  out << "deleted snapshot " << cell_text(req.params["source_uuid"]) << ' '
      << cell_text(req.params["stream_uuid"]) << " version "
      << cell_text(req.params["version"]) << '\n';
}

request build_list(const parsed_args& args, const command_context&) {
  request req{"list_snapshots", nlohmann::json::object()};
  if (auto v = args.get("source"))
    req.params["source_uuid"] = *v;
  if (auto v = args.get("stream"))
    req.params["stream_uuid"] = *v;
  return req;
}

void render_list(const nlohmann::json& result, const request&,
                 std::ostream& out) {
  table_printer table{
    {"source_uuid", "stream_uuid", "version", "source_type", "created"}};
  for (auto& s : result.value("snapshots", nlohmann::json::array())) {
    if (!s.is_object())
      continue;
    table.add_row({cell_text(s.value("source_uuid", nlohmann::json{})),
                   cell_text(s.value("stream_uuid", nlohmann::json{})),
                   cell_text(s.value("version", nlohmann::json{})),
                   cell_text(s.value("source_type", nlohmann::json{})),
                   cell_text(s.value("created", nlohmann::json{}))});
  }
  table.print(out);
  out << '(' << table.rows()
      << (table.rows() == 1 ? " snapshot)\n" : " snapshots)\n");
}

} // namespace

void add_snapshot_commands(std::vector<command_spec>& table) {
  table.push_back(
    {"record-snapshot",
     "record-snapshot SOURCE_UUID STREAM_UUID VERSION DATA_JSON "
     "[--metadata JSON] [--source-type T]",
     "record (or replace) a snapshot (record_snapshot)",
     {{"metadata", "JSON", "the snapshot's metadata"},
      {"source-type", "T", "the snapshot's source type"}},
     4, 4, true, false, build_record, render_recorded});
  table.push_back({"read-snapshot",
                   "read-snapshot SOURCE_UUID STREAM_UUID [--version N]",
                   "print a snapshot, the latest unless --version "
                   "(read_snapshot)",
                   {{"version", "N", "the snapshot's version"}}, 2, 2, true,
                   false, build_read, render_snapshot});
  table.push_back({"delete-snapshot",
                   "delete-snapshot SOURCE_UUID STREAM_UUID VERSION",
                   "delete one snapshot (delete_snapshot)", {}, 3, 3, true,
                   false, build_delete, render_deleted});
  table.push_back({"snapshots",
                   "snapshots [--source SOURCE_UUID] [--stream STREAM_UUID]",
                   "list snapshots (list_snapshots)",
                   {{"source", "SOURCE_UUID", "only this source"},
                    {"stream", "STREAM_UUID", "only this stream"}},
                   0, 0, true, false, build_list, render_list});
}

} // namespace cxesdb::shell
