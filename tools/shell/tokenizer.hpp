#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cxesdb::shell {

/// Splits one interactive input line into words, like a POSIX shell but
/// friendlier to JSON.
///
/// - Words are separated by blanks.
/// - 'single quotes' keep everything literally; "double quotes" keep
///   everything except `\"` and `\\`; a backslash outside quotes escapes the
///   next character.
/// - A word that starts with `{` or `[` is taken verbatim up to its matching
///   bracket (JSON strings inside are respected), so `append s {"a": "b c"}`
///   passes the JSON object unchanged as one word.
///
/// Returns the words, or an error text (unterminated quote or bracket) in
/// `error`.
struct tokenize_result {
  std::vector<std::string> words;
  std::optional<std::string> error;
};

/// Splits `line` into words (see tokenize_result).
tokenize_result tokenize(const std::string& line);

} // namespace cxesdb::shell
