#include "tools/shell/tokenizer.hpp"

#include <cstddef>

namespace cxesdb::shell {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// Copies a JSON object or array starting at `pos` (at `{` or `[`) into `out`
/// and returns the index after its matching bracket, or npos when the line
/// ends first. Brackets inside JSON strings do not count.
size_t take_json(const std::string& line, size_t pos, std::string& out) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < line.size(); ++i) {
    char c = line[i];
    out += c;
    if (in_string) {
      if (c == '\\' && i + 1 < line.size())
        out += line[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0)
        return i + 1;
    }
  }
  return std::string::npos;
}

} // namespace

tokenize_result tokenize(const std::string& line) {
  tokenize_result res;
  size_t i = 0;
  auto n = line.size();
  while (i < n) {
    while (i < n && is_blank(line[i]))
      ++i;
    if (i == n)
      break;
    std::string word;
    if (line[i] == '{' || line[i] == '[') {
      auto next = take_json(line, i, word);
      if (next == std::string::npos) {
        res.error = "unterminated JSON value (missing closing bracket)";
        return res;
      }
      i = next;
    }
    while (i < n && !is_blank(line[i])) {
      char c = line[i];
      if (c == '\'') {
        auto end = line.find('\'', i + 1);
        if (end == std::string::npos) {
          res.error = "unterminated single quote";
          return res;
        }
        word.append(line, i + 1, end - i - 1);
        i = end + 1;
      } else if (c == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          if (line[i] == '\\' && i + 1 < n
              && (line[i + 1] == '"' || line[i + 1] == '\\')) {
            word += line[i + 1];
            i += 2;
          } else if (line[i] == '"') {
            ++i;
            closed = true;
            break;
          } else {
            word += line[i++];
          }
        }
        if (!closed) {
          res.error = "unterminated double quote";
          return res;
        }
      } else if (c == '\\' && i + 1 < n) {
        word += line[i + 1];
        i += 2;
      } else {
        word += c;
        ++i;
      }
    }
    res.words.push_back(std::move(word));
  }
  return res;
}

} // namespace cxesdb::shell
