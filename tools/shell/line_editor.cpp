#include "tools/shell/line_editor.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// libedit's readline compatibility header defines macros (CTRL, RUBOUT):
// include it here only, after the C++ headers.
#include <editline/readline.h>

#include "tools/shell/command_table.hpp"
#include "tools/shell/tokenizer.hpp"

namespace cxesdb::shell {

namespace {

/// The one live editor; libedit's completion hooks are plain functions.
line_editor* active_editor = nullptr;

/// The candidates of the completion in progress, handed out one by one.
std::vector<std::string> candidates;
size_t next_candidate = 0;

char* candidate_generator(const char*, int state) {
  if (state == 0)
    next_candidate = 0;
  if (next_candidate >= candidates.size())
    return nullptr;
  // libedit frees what it gets with free().
  return strdup(candidates[next_candidate++].c_str());
}

char** complete_hook(const char* text, int start, int) {
  // Without matches, do not fall back to file names; except after --file.
  rl_attempted_completion_over = 1;
  if (active_editor == nullptr || rl_line_buffer == nullptr)
    return nullptr;
  std::string before(rl_line_buffer, static_cast<size_t>(start));
  auto words = tokenize(before).words;
  if (!words.empty() && words.back() == "--file") {
    rl_attempted_completion_over = 0;
    return nullptr;
  }
  candidates = active_editor->complete(words, text);
  if (candidates.empty())
    return nullptr;
  return rl_completion_matches(text, candidate_generator);
}

bool starts_with(const std::string& str, const std::string& prefix) {
  return str.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

line_editor::line_editor(std::string history_path, store_source stores)
  : history_path_(std::move(history_path)), stores_(std::move(stores)) {
  assert(active_editor == nullptr);
  active_editor = this;
  rl_readline_name = "cxesdb"; // for conditionals in ~/.editrc
  rl_initialize();
  rl_attempted_completion_function = complete_hook;
  stifle_history(history_entries_max_default);
  if (!history_path_.empty())
    read_history(history_path_.c_str()); // a missing file is fine
}

line_editor::~line_editor() {
  if (!history_path_.empty())
    write_history(history_path_.c_str());
  active_editor = nullptr;
}

std::optional<std::string> line_editor::read_line(const std::string& prompt) {
  char* line = readline(prompt.c_str());
  if (line == nullptr)
    return std::nullopt;
  std::string res{line};
  std::free(line);
  return res;
}

void line_editor::remember(const std::string& line) {
  add_history(line.c_str());
  // Save after every command: a killed shell keeps its history.
  if (!history_path_.empty())
    write_history(history_path_.c_str());
}

std::vector<std::string>
line_editor::complete(const std::vector<std::string>& before,
                      const std::string& word) {
  std::vector<std::string> res;
  auto add_matching = [&](const std::vector<std::string>& names) {
    for (auto& name : names)
      if (starts_with(name, word))
        res.push_back(name);
  };
  if (before.empty()) {
    std::vector<std::string> names;
    for (auto& cmd : command_table())
      names.push_back(cmd.name);
    add_matching(names);
    return res;
  }
  auto cmd = find_command(before[0]);
  if (cmd == nullptr)
    return res;
  if (before.back() == "--store") {
    add_matching(stores_());
    return res;
  }
  if (cmd->name == "tail" && before.back() == "--from") {
    add_matching({"origin", "current"});
    return res;
  }
  if (starts_with(word, "--")) {
    std::vector<std::string> names;
    for (auto& opt : all_options(*cmd))
      names.push_back("--" + opt.name);
    add_matching(names);
    return res;
  }
  if (cmd->name == "help" && before.size() == 1) {
    std::vector<std::string> names;
    for (auto& other : command_table())
      names.push_back(other.name);
    add_matching(names);
    return res;
  }
  if (cmd->takes_store_id) {
    // Complete the first positional: count the words that are positionals.
    size_t positionals = 0;
    auto options = all_options(*cmd);
    for (size_t i = 1; i < before.size(); ++i) {
      const option_spec* spec = nullptr;
      for (auto& opt : options)
        if (before[i] == "--" + opt.name)
          spec = &opt;
      if (spec != nullptr && !spec->value_name.empty())
        ++i; // skip the option's value
      else if (spec == nullptr)
        ++positionals;
    }
    if (positionals == 0)
      add_matching(stores_());
  }
  return res;
}

std::string line_editor::default_history_path() {
  auto home = std::getenv("HOME");
  if (home == nullptr || *home == '\0')
    return {};
  return std::string{home} + "/.cxesdb_history";
}

} // namespace cxesdb::shell
