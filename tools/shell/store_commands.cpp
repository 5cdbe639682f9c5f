// The store commands: list, create, remove and inspect stores
// (protocol section 5, "Stores").

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

/// The store a store command names: its ID argument, else the current store,
/// else nothing (the node's default store).
void put_store(request& req, const parsed_args& args,
               const command_context& ctx) {
  if (!args.positional.empty())
    req.params["store"] = args.positional[0];
  else if (ctx.store)
    req.params["store"] = *ctx.store;
}

request build_stores(const parsed_args&, const command_context&) {
  return {"list_stores", nlohmann::json::object()};
}

void render_stores(const nlohmann::json& result, const request&,
                   std::ostream& out) {
  table_printer table{{"store", "status", "description", "tags"}};
  auto stores = result.value("stores", nlohmann::json::object());
  // nlohmann::json objects iterate in key order: the table comes sorted.
  for (auto& [id, info] : stores.items()) {
    auto config = info.value("config", nlohmann::json::object());
    table.add_row({id, cell_text(info.value("status", nlohmann::json{})),
                   cell_text(config.value("description", nlohmann::json{})),
                   cell_text(config.value("tags", nlohmann::json{}))});
  }
  table.print(out);
  out << '(' << table.rows() << (table.rows() == 1 ? " store)\n" : " stores)\n");
}

request build_create_store(const parsed_args& args, const command_context&) {
  request req{"create_store", {{"store", args.positional[0]}}};
  auto config = nlohmann::json::object();
  if (auto d = args.get("description"))
    config["description"] = *d;
  if (auto t = args.get("tags")) {
    auto tags = nlohmann::json::array();
    std::string::size_type from = 0;
    while (from <= t->size()) {
      auto comma = t->find(',', from);
      if (comma == std::string::npos)
        comma = t->size();
      auto tag = t->substr(from, comma - from);
      if (!tag.empty())
        tags.push_back(tag);
      from = comma + 1;
    }
    config["tags"] = tags;
  }
  if (auto v = args.get("timeout-ms"))
    config["timeout_ms"] = parse_int(*v, "--timeout-ms");
  if (auto v = args.get("replication-factor"))
    config["replication_factor"] = parse_int(*v, "--replication-factor");
  if (!config.empty())
    req.params["config"] = config;
  if (auto t = args.get("template"))
    req.params["template"] = *t;
  return req;
}

void render_created(const nlohmann::json& result, const request&,
                    std::ostream& out) {
  print_object(result, out, {"store", "status"});
}

void render_status(const nlohmann::json& result, const request&,
                   std::ostream& out) {
  print_object(result, out);
}

request build_remove_store(const parsed_args& args, const command_context&) {
  return {"remove_store", {{"store", args.positional[0]}}};
}

void render_remove_store(const nlohmann::json&, const request& req,
                         std::ostream& out) {
  out << "removed store " << req.params.value("store", "") << '\n';
}

request build_store_status(const parsed_args& args,
                           const command_context& ctx) {
  request req{"get_store_status", nlohmann::json::object()};
  put_store(req, args, ctx);
  return req;
}

request build_store_config(const parsed_args& args,
                           const command_context& ctx) {
  request req{"get_store_config", nlohmann::json::object()};
  put_store(req, args, ctx);
  return req;
}

void render_store_config(const nlohmann::json& result, const request&,
                         std::ostream& out) {
  print_object(result.value("config", nlohmann::json::object()), out);
}

} // namespace

void add_store_commands(std::vector<command_spec>& table) {
  table.push_back({"stores", "stores", "list the stores (list_stores)", {}, 0,
                   0, false, false, build_stores, render_stores});
  table.push_back(
    {"create-store",
     "create-store ID [--description D] [--tags a,b] [--timeout-ms N] "
     "[--replication-factor N] [--template T]",
     "create a store and wait until it runs (create_store)",
     {{"description", "D", "free text shown by `stores`"},
      {"tags", "a,b", "comma-separated tags"},
      {"timeout-ms", "N", "the store's request timeout"},
      {"replication-factor", "N", "number of replicas"},
      {"template", "T",
       "start from the node config file's store template T; the other "
       "options override it"}},
     1, 1, false, false, build_create_store, render_created});
  table.push_back({"remove-store", "remove-store ID",
                   "remove a store and delete its data (remove_store)",
                   {}, 1, 1, false, true, build_remove_store,
                   render_remove_store});
  table.push_back({"store-status", "store-status [ID]",
                   "show a store's status (get_store_status)", {}, 0, 1,
                   false, true, build_store_status, render_status});
  table.push_back({"store-config", "store-config [ID]",
                   "show a store's configuration (get_store_config)", {}, 0,
                   1, false, true, build_store_config, render_store_config});
}

} // namespace cxesdb::shell
