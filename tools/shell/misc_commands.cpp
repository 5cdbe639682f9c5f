// health, raw, and the local commands the session runs itself
// (use, help, quit, exit).

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"

namespace cxesdb::shell {

namespace {

request build_health(const parsed_args&, const command_context&) {
  return {"health", nlohmann::json::object()};
}

void render_object(const nlohmann::json& result, const request&,
                   std::ostream& out) {
  print_object(result, out, {"status", "node"});
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
  table.push_back({"raw", "raw METHOD [PARAMS_JSON]",
                   "send any method with the given params object and print "
                   "the result (e.g. raw cluster_status)",
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
