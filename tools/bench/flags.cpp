#include "tools/bench/flags.hpp"

#include <cerrno>
#include <cstdlib>

namespace cxesdb::tools {

flags::flags(const std::vector<std::string>& args,
             const std::set<std::string>& switches) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() < 3)
      throw usage_error("unexpected argument: " + a);
    auto name = a.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (switches.count(name) > 0) {
      value = "1";
    } else {
      if (i + 1 >= args.size())
        throw usage_error("--" + name + " needs a value");
      value = args[++i];
    }
    values_[name] = value;
  }
}

std::string flags::get(const std::string& name, const std::string& fallback) {
  used_.insert(name);
  auto i = values_.find(name);
  return i == values_.end() ? fallback : i->second;
}

int64_t flags::get_int(const std::string& name, int64_t fallback, int64_t min,
                       int64_t max) {
  used_.insert(name);
  auto i = values_.find(name);
  if (i == values_.end())
    return fallback;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(i->second.c_str(), &end, 10);
  if (errno != 0 || end == i->second.c_str() || *end != '\0' || v < min
      || v > max)
    throw usage_error("--" + name + " must be an integer from "
                      + std::to_string(min) + " to " + std::to_string(max));
  return v;
}

double flags::get_double(const std::string& name, double fallback, double min,
                         double max) {
  used_.insert(name);
  auto i = values_.find(name);
  if (i == values_.end())
    return fallback;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(i->second.c_str(), &end);
  if (errno != 0 || end == i->second.c_str() || *end != '\0' || !(v >= min)
      || !(v <= max))
    throw usage_error("--" + name + " must be a number from "
                      + std::to_string(min) + " to " + std::to_string(max));
  return v;
}

bool flags::has(const std::string& name) {
  used_.insert(name);
  return values_.count(name) > 0;
}

void flags::check_all_used() const {
  for (auto& [name, value] : values_)
    if (used_.count(name) == 0)
      throw usage_error("unknown flag --" + name);
}

namespace {

endpoint parse_endpoint(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw usage_error("--hosts entries must be HOST:PORT, got " + text);
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535)
    throw usage_error("bad port in " + text);
  return {text.substr(0, colon), static_cast<uint16_t>(port)};
}

} // namespace

std::vector<endpoint> endpoints_of(flags& f) {
  std::vector<endpoint> result;
  auto hosts = f.get("hosts", "");
  auto host = f.get("host", "127.0.0.1");
  auto port = f.get_int("port", 7411, 1, 65535);
  if (hosts.empty()) {
    result.push_back({host, static_cast<uint16_t>(port)});
    return result;
  }
  size_t start = 0;
  while (start <= hosts.size()) {
    auto comma = hosts.find(',', start);
    auto item = hosts.substr(start, comma == std::string::npos
                                      ? std::string::npos
                                      : comma - start);
    if (!item.empty())
      result.push_back(parse_endpoint(item));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  if (result.empty())
    throw usage_error("--hosts is empty");
  return result;
}

} // namespace cxesdb::tools

namespace cxesdb::tools {

security_options security_of(flags& f) {
  security_options s;
  s.token = f.get("token", "");
  if (s.token.empty())
    if (auto t = std::getenv("CXESDB_TOKEN"); t != nullptr)
      s.token = t;
  auto ca = f.get("tls-ca", "");
  auto cert = f.get("tls-cert", "");
  auto key = f.get("tls-key", "");
  auto name = f.get("tls-server-name", "");
  if (cert.empty() != key.empty())
    throw usage_error("--tls-cert and --tls-key go together");
  if (!ca.empty() || !cert.empty() || !name.empty()) {
    gateway::tls_client_options o;
    o.ca_file = ca;
    o.cert_file = cert;
    o.key_file = key;
    o.server_name = name;
    s.tls = o;
  }
  return s;
}

} // namespace cxesdb::tools
