// The subscription listing (protocol section 7, "Subscriptions"). `tail`
// (tail_command.cpp) subscribes; `raw` reaches the other subscription
// methods.

#include <ostream>

#include "tools/shell/command_table.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

request build_list(const parsed_args&, const command_context&) {
  return {"get_subscriptions", nlohmann::json::object()};
}

void render_list(const nlohmann::json& result, const request&,
                 std::ostream& out) {
  table_printer table{{"name", "type", "selector", "persistent", "checkpoint",
                       "subscribers"}};
  for (auto& s : result.value("subscriptions", nlohmann::json::array())) {
    if (!s.is_object())
      continue;
    table.add_row({cell_text(s.value("name", nlohmann::json{})),
                   cell_text(s.value("type", nlohmann::json{})),
                   cell_text(s.value("selector", nlohmann::json{})),
                   cell_text(s.value("persistent", nlohmann::json{})),
                   cell_text(s.value("checkpoint", nlohmann::json{})),
                   cell_text(s.value("subscribers", nlohmann::json{}))});
  }
  table.print(out);
  out << '(' << table.rows()
      << (table.rows() == 1 ? " subscription)\n" : " subscriptions)\n");
}

} // namespace

void add_subscription_commands(std::vector<command_spec>& table) {
  table.push_back({"subscriptions", "subscriptions",
                   "list the store's subscriptions (get_subscriptions)", {},
                   0, 0, true, false, build_list, render_list});
}

} // namespace cxesdb::shell
