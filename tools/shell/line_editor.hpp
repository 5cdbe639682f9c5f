#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cxesdb::shell {

/// Line editing for the interactive session on a terminal, on top of
/// libedit's readline interface: history kept in a file, and tab
/// completion of command names, option names and store names.
///
/// libedit keeps global state, so at most one line_editor may exist.
class line_editor {
public:
  /// History entries kept in memory and in the history file.
  static constexpr int history_entries_max_default = 1000;

  /// Returns the store names to complete (may ask the node).
  using store_source = std::function<std::vector<std::string>()>;

  /// Loads the history from `history_path` (empty: no history file).
  line_editor(std::string history_path, store_source stores);

  line_editor(const line_editor&) = delete;
  line_editor& operator=(const line_editor&) = delete;

  /// Saves the history.
  ~line_editor();

  /// Shows `prompt` and reads one line. Nothing at end of input (Ctrl-D).
  std::optional<std::string> read_line(const std::string& prompt);

  /// Appends `line` to the history and saves the history file.
  void remember(const std::string& line);

  /// The completions of `word` (what is typed so far) after the words
  /// `before` on the line. Public for tests; libedit calls it through a
  /// static hook.
  std::vector<std::string> complete(const std::vector<std::string>& before,
                                    const std::string& word);

  /// The default history file: ~/.cxesdb_history, empty without $HOME.
  static std::string default_history_path();

private:
  std::string history_path_;
  store_source stores_;
};

} // namespace cxesdb::shell
