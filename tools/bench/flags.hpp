#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/client/tls_client.hpp"

namespace cxesdb::tools {

/// A command-line mistake; main prints it with the usage and exits 2.
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The `--name value` and `--switch` arguments of one subcommand. Every
/// getter takes the default, so each limit is named with its default where it
/// is read. Unknown flags are reported by `check_all_used`.
class flags {
public:
  /// Parses `args`; `switches` names the flags that take no value.
  flags(const std::vector<std::string>& args,
        const std::set<std::string>& switches);

  std::string get(const std::string& name, const std::string& fallback);

  int64_t get_int(const std::string& name, int64_t fallback, int64_t min,
                  int64_t max);

  double get_double(const std::string& name, double fallback, double min,
                    double max);

  bool has(const std::string& name);

  /// Throws usage_error naming the first flag no getter asked for.
  void check_all_used() const;

private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

/// One node address.
struct endpoint {
  std::string host;
  uint16_t port = 0;
};

/// The nodes to connect to: `--hosts H:P,...` when given, else `--host` and
/// `--port` (defaults 127.0.0.1 and 7411).
std::vector<endpoint> endpoints_of(flags& f);

/// TLS and authentication of every connection (protocol section 8).
struct security_options {
  /// `--tls-ca PEM`, `--tls-cert PEM --tls-key PEM`, `--tls-server-name N`:
  /// TLS when any is given; nothing: plain TCP.
  std::optional<gateway::tls_client_options> tls;
  /// `--token T`, else the environment variable CXESDB_TOKEN: sent with
  /// `authenticate` on every connection before its first request.
  std::string token;
};

/// Reads the security flags (every command takes them).
security_options security_of(flags& f);

} // namespace cxesdb::tools
