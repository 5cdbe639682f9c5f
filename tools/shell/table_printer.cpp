#include "tools/shell/table_printer.hpp"

#include <cassert>
#include <utility>

namespace cxesdb::shell {

size_t display_width(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) // count lead bytes, skip continuation bytes
      ++n;
  return n;
}

table_printer::table_printer(std::vector<std::string> headers,
                             size_t cell_chars_max)
  : headers_(std::move(headers)), cell_chars_max_(cell_chars_max) {
  assert(!headers_.empty());
  assert(cell_chars_max_ >= 4);
}

void table_printer::add_row(std::vector<std::string> cells) {
  assert(cells.size() == headers_.size());
  for (auto& cell : cells)
    cell = clean(cell);
  rows_.push_back(std::move(cells));
}

std::string table_printer::clean(const std::string& cell) const {
  std::string out;
  out.reserve(cell.size());
  size_t chars = 0;
  for (size_t i = 0; i < cell.size(); ++i) {
    auto c = static_cast<unsigned char>(cell[i]);
    bool lead = (c & 0xC0) != 0x80;
    if (lead && ++chars > cell_chars_max_ - 3) {
      // Cut at a code point boundary; keep room for the ellipsis.
      if (display_width(cell.substr(i)) > 3) {
        out += "...";
        return out;
      }
    }
    out += c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c);
  }
  return out;
}

void table_printer::print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (auto& h : headers_)
    widths.push_back(display_width(h));
  for (auto& row : rows_)
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]));
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      line += i == 0 ? " " : " | ";
      line += cells[i];
      if (i + 1 < cells.size())
        line.append(widths[i] - display_width(cells[i]), ' ');
    }
    // No trailing blanks, even when the last cell is empty.
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out << line << '\n';
  };
  print_row(headers_);
  std::string sep;
  for (size_t i = 0; i < widths.size(); ++i) {
    if (i > 0)
      sep += '+';
    sep.append(widths[i] + 2, '-');
  }
  out << sep << '\n';
  for (auto& row : rows_)
    print_row(row);
}

void print_key_values(
  std::ostream& out,
  const std::vector<std::pair<std::string, std::string>>& pairs) {
  size_t width = 0;
  for (auto& kv : pairs)
    width = std::max(width, display_width(kv.first));
  for (auto& [key, value] : pairs) {
    out << key << ':';
    out << std::string(width - display_width(key) + 1, ' ') << value << '\n';
  }
}

} // namespace cxesdb::shell
