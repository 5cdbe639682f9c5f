// The stream commands: append, read, version, streams, read-all
// (protocol section 5, "Streams").

#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

/// Largest events file `append --file` reads; the node's own limit
/// (--max-message-bytes, 16 MiB by default) is usually lower.
constexpr size_t events_file_bytes_max_default = 64u << 20;

/// The event type `append` uses when `--type` is not given.
constexpr const char* event_type_default = "event";

nlohmann::json parse_expected(const std::string& text) {
  if (text == "any" || text == "no_stream" || text == "stream_exists")
    return text;
  return parse_int(text, "--expected");
}

std::string read_events_file(const std::string& path,
                             const command_context& ctx) {
  std::string text;
  auto read_all = [&](std::istream& in) {
    char buf[65536];
    while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > events_file_bytes_max_default)
        throw command_error("events file " + path + " is larger than "
                            + std::to_string(events_file_bytes_max_default)
                            + " bytes");
    }
  };
  if (path == "-") {
    if (ctx.interactive || ctx.in == nullptr)
      throw usage_error("--file - (stdin) works only in one-shot mode");
    read_all(*ctx.in);
    return text;
  }
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw command_error("cannot open events file " + path);
  read_all(in);
  if (in.bad())
    throw command_error("cannot read events file " + path);
  return text;
}

request build_append(const parsed_args& args, const command_context& ctx) {
  request req{"append_events", {{"stream", args.positional[0]}}};
  req.params["expected_version"]
    = parse_expected(args.get("expected").value_or("any"));
  auto type = args.get("type");
  if (auto file = args.get("file")) {
    if (args.positional.size() > 1)
      throw usage_error("give DATA_JSON or --file, not both");
    for (auto opt : {"metadata", "id", "content-type"})
      if (args.has(opt))
        throw usage_error(std::string{"--"} + opt
                          + " applies to one event; put it into the file");
    auto doc = parse_json(read_events_file(*file, ctx), "events file " + *file);
    if (doc.is_object() && doc.contains("events"))
      doc = doc["events"];
    if (!doc.is_array())
      throw usage_error("events file " + *file
                        + " must hold a JSON array of events (or an object "
                          "with an \"events\" array)");
    for (auto& ev : doc) {
      if (!ev.is_object())
        throw usage_error("events file " + *file
                          + ": every event must be a JSON object");
      if (type && !ev.contains("event_type"))
        ev["event_type"] = *type;
    }
    req.params["events"] = std::move(doc);
    return req;
  }
  if (args.positional.size() < 2)
    throw usage_error("missing DATA_JSON (or --file F)");
  nlohmann::json ev{{"event_type", type.value_or(event_type_default)},
                    {"data", parse_json(args.positional[1], "DATA_JSON")}};
  if (auto m = args.get("metadata"))
    ev["metadata"] = parse_json(*m, "--metadata");
  if (auto id = args.get("id"))
    ev["event_id"] = *id;
  if (auto ct = args.get("content-type"))
    ev["content_type"] = *ct;
  req.params["events"] = nlohmann::json::array({std::move(ev)});
  return req;
}

void render_appended(const nlohmann::json& result, const request&,
                     std::ostream& out) {
  print_object(result, out, {"version", "position"});
}

request build_read(const parsed_args& args, const command_context&) {
  request req{"get_events", {{"stream", args.positional[0]}}};
  if (auto v = args.get("start"))
    req.params["start"] = parse_int(*v, "--start");
  if (auto v = args.get("count"))
    req.params["count"] = parse_int(*v, "--count");
  req.params["direction"] = args.has("backward") ? "backward" : "forward";
  return req;
}

/// The node's default for get_events' `count` (protocol section 5).
constexpr int64_t read_count_default = 100;

/// Prints the events, then a hint when the page is full: more may follow.
void render_events(const nlohmann::json& result, const request& req,
                   std::ostream& out) {
  auto events = result.value("events", nlohmann::json::array());
  print_events(events, out);
  auto count = req.params.value("count", read_count_default);
  if (!events.is_array() || events.empty()
      || static_cast<int64_t>(events.size()) < count)
    return;
  auto last = events.back().value("event_number", int64_t{-1});
  auto backward = req.params.value("direction", "") == "backward";
  auto next = backward ? last - 1 : last + 1;
  if (last < 0 || next < 0)
    return;
  out << '(' << events.size() << (events.size() == 1 ? " event" : " events")
      << "; more may follow: --start " << next << ")\n";
}

request build_version(const parsed_args& args, const command_context&) {
  return {"get_version", {{"stream", args.positional[0]}}};
}

void render_version(const nlohmann::json& result, const request&,
                    std::ostream& out) {
  out << cell_text(result.value("version", nlohmann::json{})) << '\n';
}

request build_streams(const parsed_args& args, const command_context&) {
  request req{"get_streams", nlohmann::json::object()};
  if (auto v = args.get("after"))
    req.params["after"] = *v;
  if (auto v = args.get("limit"))
    req.params["limit"] = parse_int(*v, "--limit");
  return req;
}

void render_streams(const nlohmann::json& result, const request&,
                    std::ostream& out) {
  table_printer table{{"stream"}};
  for (auto& s : result.value("streams", nlohmann::json::array()))
    table.add_row({cell_text(s)});
  table.print(out);
  out << '(' << table.rows() << (table.rows() == 1 ? " stream" : " streams");
  auto next = result.value("next_after", nlohmann::json{});
  if (!next.is_null())
    out << "; more after " << cell_text(next) << ": use --after";
  out << ")\n";
}

request build_read_all(const parsed_args& args, const command_context&) {
  request req{"read_all", nlohmann::json::object()};
  if (auto v = args.get("from"))
    req.params["from_position"] = parse_int(*v, "--from");
  if (auto v = args.get("count"))
    req.params["count"] = parse_int(*v, "--count");
  req.params["direction"] = args.has("backward") ? "backward" : "forward";
  return req;
}

void render_read_all(const nlohmann::json& result, const request&,
                     std::ostream& out) {
  print_events(result.value("events", nlohmann::json::array()), out);
  auto next = result.value("next_position", nlohmann::json{});
  if (!next.is_null())
    out << "(next position: " << cell_text(next) << ")\n";
}

} // namespace

void add_stream_commands(std::vector<command_spec>& table) {
  table.push_back(
    {"append",
     "append STREAM [--expected E] [--type T] [--metadata JSON] [--id UUID] "
     "[--content-type CT] DATA_JSON\n"
     "       append STREAM [--expected E] [--type T] --file F|-",
     "append one event, or the events array of a file or stdin "
     "(append_events)",
     {{"expected", "E",
       "expected version: any (default), no_stream, stream_exists or N"},
      {"type", "T",
       std::string{"event type (default: "} + event_type_default
         + "; with --file: for events without one)"},
      {"metadata", "JSON", "the event's metadata"},
      {"id", "UUID", "the event's id (the node generates one if absent)"},
      {"content-type", "CT",
       "application/json (default) or application/octet-stream"},
      {"file", "F|-",
       "read a JSON array of events (or {\"events\": [...]}) from F or stdin"}},
     1, 2, true, false, build_append, render_appended});
  table.push_back({"read", "read STREAM [--start N] [--count N] [--backward]",
                   "read events of a stream (get_events)",
                   {{"start", "N", "first event number (default: 0, "
                                   "backward: the last)"},
                    {"count", "N", "at most N events (default: 100)"},
                    {"backward", "", "read from newest to oldest"}},
                   1, 1, true, false, build_read, render_events});
  table.push_back({"version", "version STREAM",
                   "print a stream's last event number, -1 if none "
                   "(get_version)",
                   {}, 1, 1, true, false, build_version, render_version});
  table.push_back({"streams", "streams [--after S] [--limit N]",
                   "list stream ids in byte order (get_streams)",
                   {{"after", "S", "start after stream S (paging)"},
                    {"limit", "N", "at most N streams (default: 10000)"}},
                   0, 0, true, false, build_streams, render_streams});
  table.push_back({"read-all", "read-all [--from P] [--count N] [--backward]",
                   "read every stream of the store in position order "
                   "(read_all)",
                   {{"from", "P", "first position (default: 0)"},
                    {"count", "N", "at most N events"},
                    {"backward", "", "read from newest to oldest"}},
                   0, 0, true, false, build_read_all, render_read_all});
}

} // namespace cxesdb::shell
