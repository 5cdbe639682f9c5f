#include "tools/shell/flags.hpp"

#include "tools/shell/command_args.hpp"

namespace cxesdb::shell {

shell_flags parse_flags(const std::vector<std::string>& argv) {
  shell_flags res;
  size_t i = 0;
  for (; i < argv.size(); ++i) {
    auto word = argv[i];
    if (word == "--") {
      ++i;
      break;
    }
    if (word == "--help" || word == "-h") {
      res.help = true;
      continue;
    }
    if (word == "--version") {
      res.version = true;
      continue;
    }
    if (word == "--json") {
      res.options.json = true;
      continue;
    }
    if (word.compare(0, 2, "--") != 0)
      break; // the command
    auto name = word.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.erase(eq);
    } else if (name == "host" || name == "port" || name == "store"
               || name == "timeout-ms" || name == "token" || name == "tls-ca"
               || name == "tls-cert" || name == "tls-key"
               || name == "tls-server-name") {
      if (i + 1 >= argv.size())
        throw usage_error("flag --" + name + " needs a value");
      value = argv[++i];
    } else {
      throw usage_error("unknown flag --" + name);
    }
    if (name == "host") {
      if (value.empty())
        throw usage_error("--host must not be empty");
      res.options.host = value;
    } else if (name == "port") {
      auto port = parse_int(value, "--port");
      if (port < 1 || port > 65535)
        throw usage_error("--port must be in 1..65535, got " + value);
      res.options.port = static_cast<uint16_t>(port);
    } else if (name == "store") {
      if (value.empty())
        throw usage_error("--store must not be empty");
      res.options.store = value;
    } else if (name == "timeout-ms") {
      auto ms = parse_int(value, "--timeout-ms");
      if (ms < 1 || ms > timeout_ms_max)
        throw usage_error("--timeout-ms must be in 1.."
                          + std::to_string(timeout_ms_max) + ", got "
                          + value);
      res.options.timeout_ms = static_cast<int>(ms);
    } else if (name == "token") {
      if (value.empty())
        throw usage_error("--token must not be empty");
      res.options.token = value;
    } else if (name == "tls-ca" || name == "tls-cert" || name == "tls-key"
               || name == "tls-server-name") {
      if (value.empty())
        throw usage_error("--" + name + " must not be empty");
      if (!res.options.tls)
        res.options.tls.emplace();
      auto& t = *res.options.tls;
      (name == "tls-ca"     ? t.ca_file
       : name == "tls-cert" ? t.cert_file
       : name == "tls-key"  ? t.key_file
                            : t.server_name)
        = value;
    } else {
      throw usage_error("unknown flag --" + name);
    }
  }
  res.command.assign(argv.begin() + static_cast<std::ptrdiff_t>(i),
                     argv.end());
  if (res.options.tls
      && res.options.tls->cert_file.empty()
           != res.options.tls->key_file.empty())
    throw usage_error("--tls-cert and --tls-key go together");
  return res;
}

} // namespace cxesdb::shell
