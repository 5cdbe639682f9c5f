#include "tools/shell/help.hpp"

namespace cxesdb::shell {

const char* const shell_usage
  = "cxesdb-shell [--host H] [--port P] [--store S] [--json] "
    "[--timeout-ms N] [--token T] [--tls-ca PEM] [--tls-cert PEM --tls-key "
    "PEM] [--tls-server-name N] [COMMAND ARGS...]";

void print_usage(std::ostream& out) {
  out << "usage: " << shell_usage << "\n\n"
      << "Runs COMMAND against a cxesdb node over JSON-RPC, or an interactive\n"
         "session when no COMMAND is given.\n\n"
         "flags (before COMMAND):\n"
         "  --host H        node address (default: 127.0.0.1)\n"
         "  --port P        node client port (default: 7411)\n"
         "  --store S       store for store commands (default: the node's "
         "default store)\n"
         "  --json          print each result as raw JSON on one line\n"
         "  --timeout-ms N  wait at most N ms for an answer (default: 10000)\n"
         "  --token T       authenticate with token T after connecting\n"
         "                  (default: the environment variable CXESDB_TOKEN)\n"
         "  --tls-ca PEM    speak TLS; trust the node's certificate if PEM's\n"
         "                  CAs signed it\n"
         "  --tls-cert PEM, --tls-key PEM\n"
         "                  speak TLS with this client certificate\n"
         "  --tls-server-name N\n"
         "                  the name the node's certificate must carry\n"
         "                  (default: the host)\n"
         "  --help          print this help\n"
         "  --version       print the version and exit\n\n"
         "exit codes: 0 ok, 1 the node answered with an error or timed out,\n"
         "2 connection failure, 64 usage error\n\n";
  print_command_list(out);
}

void print_command_list(std::ostream& out) {
  out << "commands:\n";
  for (auto& cmd : command_table())
    out << "  " << cmd.syntax << "\n      " << cmd.summary << '\n';
  out << "Every command that sends a request also takes --json; stream and\n"
         "snapshot commands take --store S. `help COMMAND` shows options.\n";
}

void print_command_help(const command_spec& cmd, std::ostream& out) {
  out << "usage: " << cmd.syntax << '\n' << cmd.summary << '\n';
  auto options = all_options(cmd);
  if (options.empty())
    return;
  out << "options:\n";
  for (auto& opt : options) {
    std::string left = "--" + opt.name;
    if (!opt.value_name.empty())
      left += " " + opt.value_name;
    out << "  " << left;
    if (left.size() < 22)
      out << std::string(22 - left.size(), ' ');
    else
      out << "\n" << std::string(24, ' ');
    out << opt.help << '\n';
  }
}

} // namespace cxesdb::shell
