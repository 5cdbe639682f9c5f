// cxesdb-shell: the operator shell. Runs one command given on the command
// line, or an interactive session (docs/shell.md).

#include <cstdlib>
#include <csignal>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

#include "tools/common/version.hpp"
#include "tools/shell/exit_code.hpp"
#include "tools/shell/flags.hpp"
#include "tools/shell/help.hpp"
#include "tools/shell/line_editor.hpp"
#include "tools/shell/session.hpp"
#include "tools/shell/tokenizer.hpp"

using namespace cxesdb::shell;

namespace {

const char* const prompt = "cxesdb> ";

/// Set by SIGINT (Ctrl-C) while the prompt waits for a line.
volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_sigint(int) {
  interrupted = 1;
}

/// Catches SIGINT (without SA_RESTART, so that the read returns) or
/// restores the default (the process ends).
void catch_sigint(bool on) {
  struct sigaction sa {};
  sa.sa_handler = on ? on_sigint : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

/// Runs one input line; blank lines and `#` comments do nothing.
exit_code run_line(session& sess, const std::string& line) {
  auto first = line.find_first_not_of(" \t\r");
  if (first == std::string::npos || line[first] == '#')
    return exit_code::ok;
  auto tokens = tokenize(line);
  if (tokens.error) {
    std::cerr << "error: " << *tokens.error << '\n';
    return exit_code::usage;
  }
  return sess.run(tokens.words);
}

/// The interactive session on a terminal: libedit with history and
/// completion. Exits 0: errors were seen by the person at the keyboard.
int run_terminal(session& sess) {
  if (auto err = sess.connect())
    std::cerr << "warning: " << *err << " (each command retries)\n";
  else
    std::cerr << "connected to " << sess.options().host << ':'
              << sess.options().port << "; `help` lists the commands\n";
  line_editor editor{line_editor::default_history_path(),
                     [&sess] { return sess.store_names(); }};
  while (!sess.quit_requested()) {
    // Ctrl-C at the prompt drops the line; during a request it ends the
    // shell as usual, since json_client waits through EINTR.
    interrupted = 0;
    catch_sigint(true);
    auto line = editor.read_line(prompt);
    catch_sigint(false);
    if (!line && interrupted) {
      std::cout << '\n';
      continue;
    }
    if (!line) {
      std::cout << '\n';
      break;
    }
    auto last = line->find_last_not_of(" \t");
    if (last != std::string::npos)
      editor.remember(line->substr(0, last + 1));
    run_line(sess, *line);
    std::cout.flush();
  }
  return to_int(exit_code::ok);
}

/// The interactive session with commands from a pipe or file: one command
/// per line, no prompt. Keeps going after errors and exits with the code of
/// the last command that failed (0 if none did), so scripts notice.
int run_script(session& sess) {
  auto result = exit_code::ok;
  std::string line;
  while (!sess.quit_requested() && std::getline(std::cin, line)) {
    auto rc = run_line(sess, line);
    if (rc != exit_code::ok)
      result = rc;
    std::cout.flush();
  }
  return to_int(result);
}

/// Parses the flags and runs the command or the session.
int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  shell_flags flags;
  try {
    flags = parse_flags(args);
  } catch (const usage_error& e) {
    std::cerr << "error: " << e.what() << "\nusage: " << shell_usage << '\n';
    return to_int(exit_code::usage);
  }
  if (flags.help) {
    print_usage(std::cout);
    return to_int(exit_code::ok);
  }
  if (flags.version) {
    std::cout << cxesdb::tools::version_line("cxesdb-shell") << '\n';
    return to_int(exit_code::ok);
  }
  if (flags.options.token.empty()) {
    // The environment keeps the token out of `ps` and shell history.
    if (auto t = std::getenv("CXESDB_TOKEN"); t != nullptr && *t != '\0')
      flags.options.token = t;
  }
  flags.options.interactive = flags.command.empty();
  session sess{flags.options, std::cout, std::cerr, std::cin};
  if (!flags.command.empty())
    return to_int(sess.run(flags.command));
  if (isatty(STDIN_FILENO))
    return run_terminal(sess);
  return run_script(sess);
}

} // namespace

int main(int argc, char** argv) {
  // Commands report their failures themselves; this is the last resort
  // (a bug, or out of memory), so that a script sees exit 1, not an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: internal_error: " << e.what() << '\n';
    return to_int(exit_code::failed);
  }
}
