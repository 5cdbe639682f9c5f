#include "tools/shell/command_table.hpp"

#include "tools/shell/tail_command.hpp"
#include "tools/shell/top_command.hpp"

namespace cxesdb::shell {

const std::vector<command_spec>& command_table() {
  static const std::vector<command_spec> table = [] {
    std::vector<command_spec> res;
    add_store_commands(res);
    add_stream_commands(res);
    add_lifecycle_commands(res);
    add_snapshot_commands(res);
    add_subscription_commands(res);
    add_tail_command(res);
    add_top_command(res);
    add_misc_commands(res);
    return res;
  }();
  return table;
}

const command_spec* find_command(const std::string& name) {
  for (auto& cmd : command_table())
    if (cmd.name == name)
      return &cmd;
  return nullptr;
}

std::vector<option_spec> all_options(const command_spec& cmd) {
  auto res = cmd.options;
  if (cmd.store_scoped)
    res.push_back({"store", "S", "the store to use for this command"});
  if (cmd.build != nullptr)
    res.push_back({"json", "", "print the raw JSON result on one line"});
  return res;
}

} // namespace cxesdb::shell
