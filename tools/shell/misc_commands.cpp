// health, cluster, raw, and the local commands the session runs itself
// (use, help, quit, exit).

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

request build_health(const parsed_args&, const command_context&) {
  return {"health", nlohmann::json::object()};
}

void render_object(const nlohmann::json& result, const request&,
                   std::ostream& out) {
  print_object(result, out, {"status", "node"});
}

request build_cluster(const parsed_args&, const command_context&) {
  return {"cluster_status", nlohmann::json::object()};
}

/// cluster_status (protocol.md section 5, "Cluster and node") as two tables:
/// the nodes in the order the node lists them, `*` marking the one that
/// answered, then the stores in id order. A store without a leader shows
/// `(none)`. Fields a node leaves out print as empty cells: the command
/// must stay useful against a node that answers only part of the shape.
void render_cluster(const nlohmann::json& result, const request&,
                    std::ostream& out) {
  using nlohmann::json;
  if (result.contains("node"))
    out << "answered by " << cell_text(result["node"]) << "\n\n";
  table_printer nodes{{"node", "address", "status", "self"}};
  auto node_list = result.value("nodes", json::array());
  if (node_list.is_array())
    for (auto& n : node_list) {
      if (!n.is_object())
        continue;
      nodes.add_row({cell_text(n.value("name", json{})),
                     cell_text(n.value("address", json{})),
                     cell_text(n.value("status", json{})),
                     n.value("self", false) == true ? "*" : ""});
    }
  nodes.print(out);
  out << '(' << nodes.rows() << (nodes.rows() == 1 ? " node)\n" : " nodes)\n");
  out << '\n';
  table_printer stores{{"store", "leader", "members", "term", "commit_index"}};
  auto store_map = result.value("stores", json::object());
  // nlohmann::json objects iterate in key order: the table comes sorted.
  if (store_map.is_object())
    for (auto& [id, info] : store_map.items()) {
      if (!info.is_object())
        continue;
      auto leader = info.value("leader", json{});
      stores.add_row({id, leader.is_null() ? "(none)" : cell_text(leader),
                      cell_text(info.value("members", json{})),
                      cell_text(info.value("term", json{})),
                      cell_text(info.value("commit_index", json{}))});
    }
  stores.print(out);
  out << '(' << stores.rows()
      << (stores.rows() == 1 ? " store)\n" : " stores)\n");
}

/// `raw` sends exactly what it is given: no current store is added, so that
/// it can exercise any method, including ones added after this shell.
request build_raw(const parsed_args& args, const command_context&) {
  request req{args.positional[0], nlohmann::json::object()};
  if (args.positional.size() > 1) {
    req.params = parse_json(args.positional[1], "PARAMS_JSON");
    if (!req.params.is_object())
      throw usage_error("PARAMS_JSON must be a JSON object");
  }
  return req;
}

void render_raw(const nlohmann::json& result, const request&,
                std::ostream& out) {
  out << result.dump(2) << '\n';
}

} // namespace

void add_misc_commands(std::vector<command_spec>& table) {
  table.push_back({"health", "health", "check that the node answers (health)",
                   {}, 0, 0, false, false, build_health, render_object});
  table.push_back({"cluster", "cluster",
                   "the cluster's nodes and each store's leader, members, "
                   "term and commit index (cluster_status)",
                   {}, 0, 0, false, false, build_cluster, render_cluster});
  table.push_back({"raw", "raw METHOD [PARAMS_JSON]",
                   "send any method with the given params object and print "
                   "the result (e.g. raw get_subscriptions)",
                   {}, 1, 2, false, false, build_raw, render_raw});
  table.push_back({"use", "use [STORE | --none]",
                   "switch the current store (interactive); without STORE "
                   "print it; --none goes back to the node's default",
                   {{"none", "", "use the node's default store"}}, 0, 1,
                   false, true, nullptr, nullptr});
  table.push_back({"help", "help [COMMAND]",
                   "list the commands, or show one command's options", {}, 0,
                   1, false, false, nullptr, nullptr});
  table.push_back({"quit", "quit", "leave the interactive session (also "
                                   "exit, Ctrl-D)",
                   {}, 0, 0, false, false, nullptr, nullptr});
  table.push_back({"exit", "exit", "leave the interactive session", {}, 0, 0,
                   false, false, nullptr, nullptr});
}

} // namespace cxesdb::shell
