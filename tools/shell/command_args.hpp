#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxesdb::shell {

/// A malformed command line. The shell prints the message and the command's
/// usage line and exits 64 (one-shot) or continues (interactive).
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A failure the shell finds before it sends anything, such as a data file
/// that cannot be read. Reported like a node's error (exit 1).
class command_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// One `--name [VALUE]` option of a command.
struct option_spec {
  /// The name without the leading dashes.
  std::string name;
  /// The value's placeholder in help texts; empty for a flag.
  std::string value_name;
  /// One line of help.
  std::string help;
};

/// A command's words after its name, split into positionals and options.
///
/// Options are `--name VALUE`, `--name=VALUE` or `--name` (flags); a word
/// `--` ends the options. Any other word, including `-`, `-1` and JSON,
/// is positional. An option given twice keeps its last value.
struct parsed_args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  bool has(const std::string& name) const {
    return options.count(name) > 0;
  }

  std::optional<std::string> get(const std::string& name) const;
};

/// Splits `words` by `options`. Throws usage_error on an unknown option or a
/// missing value.
parsed_args parse_args(const std::vector<option_spec>& options,
                       const std::vector<std::string>& words);

/// Parses a whole decimal integer (optional leading '-') or throws
/// usage_error naming `what`.
int64_t parse_int(const std::string& text, const std::string& what);

/// Parses a JSON text or throws usage_error naming `what`.
nlohmann::json parse_json(const std::string& text, const std::string& what);

} // namespace cxesdb::shell
