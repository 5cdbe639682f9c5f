#include "tools/node/options.hpp"

#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>

namespace cxesdb::tools {

namespace {

const node_flag* find_flag(const node_flag* table, size_t n,
                           const std::string& name) {
  for (size_t i = 0; i < n; ++i)
    if (name == table[i].name)
      return &table[i];
  return nullptr;
}

} // namespace

const char* to_string(option_source source) {
  switch (source) {
    case option_source::default_value:
      return "default";
    case option_source::config_file:
      return "config";
    case option_source::environment:
      return "env";
    case option_source::flag:
      break;
  }
  return "flag";
}

std::string env_var_name(const std::string& flag_name) {
  std::string out = "CXESDB_";
  for (char c : flag_name)
    out += c == '-' ? '_'
                    : static_cast<char>(
                      std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<node_options> resolve_node_options(
  const node_flag* table, size_t table_size,
  const std::vector<std::string>& args, const env_lookup& env,
  std::string& error) {
  node_options res;
  std::map<std::string, std::string> cli;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      res.help = true;
      return res;
    }
    if (arg == "--version") {
      res.version = true;
      return res;
    }
    if (arg.rfind("--", 0) != 0) {
      error = "unexpected argument '" + arg + "' (see --help)";
      return std::nullopt;
    }
    auto name = arg.substr(2);
    std::string value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (find_flag(table, table_size, name) == nullptr) {
      error = "unknown flag --" + name + " (see --help)";
      return std::nullopt;
    }
    if (eq == std::string::npos) {
      if (i + 1 >= args.size()) {
        error = "--" + name + " needs a value";
        return std::nullopt;
      }
      value = args[++i];
    }
    cli[name] = value;
  }
  for (size_t i = 0; i < table_size; ++i) {
    res.values[table[i].name] = table[i].default_value;
    res.sources[table[i].name] = option_source::default_value;
  }
  // The config file's name itself comes from the flag or the environment.
  std::string config_path;
  if (auto c = cli.find("config"); c != cli.end())
    config_path = c->second;
  else if (auto e = env(env_var_name("config")))
    config_path = e;
  if (!config_path.empty()) {
    std::ifstream in{config_path};
    if (!in) {
      error = "cannot read config file " + config_path;
      return std::nullopt;
    }
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object()) {
      error = "config file " + config_path + " is not a JSON object";
      return std::nullopt;
    }
    for (auto& kv : j.items()) {
      // Not a flag: create_store's templates (protocol section 10), kept
      // as JSON text for the node to check.
      if (kv.key() == store_templates_key) {
        res.values[store_templates_key] = kv.value().dump();
        res.sources[store_templates_key] = option_source::config_file;
        continue;
      }
      if (find_flag(table, table_size, kv.key()) == nullptr
          || kv.key() == "config") {
        error = "unknown key '" + kv.key() + "' in " + config_path;
        return std::nullopt;
      }
      if (kv.value().is_object() || kv.value().is_array()
          || kv.value().is_null()) {
        error = "key '" + kv.key() + "' in " + config_path
                + " must be a string, a number or a boolean";
        return std::nullopt;
      }
      res.values[kv.key()] = kv.value().is_string()
                               ? kv.value().get<std::string>()
                               : kv.value().dump();
      res.sources[kv.key()] = option_source::config_file;
    }
  }
  for (size_t i = 0; i < table_size; ++i) {
    if (auto e = env(env_var_name(table[i].name))) {
      res.values[table[i].name] = e;
      res.sources[table[i].name] = option_source::environment;
    }
  }
  for (auto& kv : cli) {
    res.values[kv.first] = kv.second;
    res.sources[kv.first] = option_source::flag;
  }
  return res;
}

void write_node_usage(std::ostream& out, const node_flag* table,
                      size_t table_size) {
  out << "usage: cxesdb-node [--flag value]...\n\n"
         "Every flag can also be set by the environment variable\n"
         "CXESDB_<FLAG> (upper case, '-' as '_', e.g. CXESDB_DATA_DIR) or by\n"
         "the config file's key of the same name; a flag beats the\n"
         "environment, which beats the config file.\n\n";
  for (size_t i = 0; i < table_size; ++i) {
    auto& f = table[i];
    std::string name = std::string{"--"} + f.name;
    out << "  " << name;
    for (auto n = name.size(); n < 30; ++n)
      out << ' ';
    out << f.help;
    if (*f.default_value)
      out << " (default " << f.default_value << ")";
    out << '\n';
  }
  out << "  --version                     print the version and exit\n";
  out << "  --help                        this text\n";
}

} // namespace cxesdb::tools
