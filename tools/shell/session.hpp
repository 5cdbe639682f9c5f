#pragma once

#include <chrono>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/shell/command_table.hpp"
#include "tools/shell/connection.hpp"
#include "tools/shell/exit_code.hpp"
#include "tools/shell/tail_command.hpp"
#include "tools/shell/top_command.hpp"

namespace cxesdb::shell {

/// The settings of one shell run, from its flags.
struct session_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7411;
  std::optional<std::string> store;
  bool json = false;
  int timeout_ms = 10000;
  /// Sent with authenticate after every connect (--token, or the
  /// environment variable CXESDB_TOKEN); empty: none.
  std::string token;
  /// TLS (--tls-ca, --tls-cert, --tls-key, --tls-server-name); nothing:
  /// plain TCP.
  std::optional<gateway::json_client::tls_options> tls;
  /// Commands come from the interactive loop (see command_context).
  bool interactive = false;
};

/// Runs shell commands against one node: parses a command's words, builds
/// its request, sends it, and prints the result or the error. Both the
/// one-shot mode and the interactive loop drive it, one command at a time.
///
/// Results go to `out`; errors, as `error: <reason>: <message>`, go to
/// `err`. With `--json`, a result (or a node's error object, as
/// `{"error":{...}}`) is also one JSON line on `out`.
class session {
public:
  /// How long completion waits for list_stores before it gives up.
  static constexpr int completion_timeout_ms_default = 2000;

  /// How long completion reuses the store names it fetched.
  static constexpr int store_cache_ttl_ms_default = 5000;

  session(session_options opts, std::ostream& out, std::ostream& err,
          std::istream& in);

  /// Runs one command (its name and arguments) and returns its exit code.
  exit_code run(const std::vector<std::string>& words);

  /// True after `quit` or `exit`.
  bool quit_requested() const noexcept {
    return quit_;
  }

  /// The store names for completion, fetched with list_stores and cached;
  /// empty when the node does not answer.
  std::vector<std::string> store_names();

  /// Connects now (interactive start-up). Returns an error text or nothing.
  std::optional<std::string> connect() {
    return conn_.ensure_connected();
  }

  const session_options& options() const noexcept {
    return opts_;
  }

private:
  exit_code run_local(const command_spec& cmd, const parsed_args& args);
  exit_code run_use(const parsed_args& args);
  exit_code report(const call_outcome& res);
  /// Runs `tail` (tail_command.cpp): subscribes on a fresh connection and
  /// prints events until --count, Ctrl-C, a drop or a lost connection.
  exit_code run_tail(const tail_settings& tail, bool json);
  /// Runs `top` (top_command.cpp): refreshes the table of stores until
  /// --count refreshes or Ctrl-C.
  exit_code run_top(const top_settings& top, bool json);

  session_options opts_;
  std::ostream& out_;
  std::ostream& err_;
  std::istream& in_;
  connection conn_;
  bool quit_ = false;
  std::vector<std::string> store_cache_;
  std::optional<std::chrono::steady_clock::time_point> store_cache_time_;
};

} // namespace cxesdb::shell
