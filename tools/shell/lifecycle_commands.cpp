// The stream lifecycle commands: delete-stream, truncate, stream-meta,
// scavenge (protocol section 9, "Stream lifecycle and retention").

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"

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
}

} // namespace cxesdb::shell
