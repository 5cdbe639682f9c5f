#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace cxesdb::shell {

/// An aligned text table in the style of psql:
///
/// ```
///  store   | status  | description
/// ---------+---------+-------------
///  default | running |
/// ```
///
/// Widths count UTF-8 code points, not bytes. Control characters in cells
/// print as spaces so that one row stays one line.
class table_printer {
public:
  /// Longest cell, in code points, before it is cut and ends in "...".
  static constexpr size_t cell_chars_max_default = 80;

  explicit table_printer(std::vector<std::string> headers,
                         size_t cell_chars_max = cell_chars_max_default);

  /// Adds one row; it must have as many cells as there are headers.
  void add_row(std::vector<std::string> cells);

  size_t rows() const noexcept {
    return rows_.size();
  }

  /// Writes the header, the separator line and every row.
  void print(std::ostream& out) const;

private:
  std::string clean(const std::string& cell) const;

  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  size_t cell_chars_max_;
};

/// Prints `key  value` lines with the values aligned, for small result
/// objects (append results, store status, health).
void print_key_values(
  std::ostream& out,
  const std::vector<std::pair<std::string, std::string>>& pairs);

/// The number of UTF-8 code points in `text`.
size_t display_width(const std::string& text);

} // namespace cxesdb::shell
