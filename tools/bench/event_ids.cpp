#include "tools/bench/event_ids.hpp"

namespace cxesdb::tools {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void put_hex(std::string& out, uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i)
    out += hex_digits[(v >> (4 * i)) & 0xf];
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

event_ids::event_ids(uint64_t run_tag) : run_tag_(run_tag) {
  // 8-4-4 hex digits of the tag, with the version nibble forced to 4: the
  // tag keeps 60 bits, which is what seq_of compares.
  put_hex(head_, run_tag >> 32, 8);
  head_ += '-';
  put_hex(head_, (run_tag >> 16) & 0xffff, 4);
  head_ += "-4";
  put_hex(head_, run_tag & 0xfff, 3);
  head_ += '-';
}

void event_ids::append(std::string& out, uint64_t seq) const {
  out += head_;
  // Variant nibble 8, then 60 bits of sequence: 3 + 12 hex digits.
  out += '8';
  put_hex(out, (seq >> 48) & 0xfff, 3);
  out += '-';
  put_hex(out, seq & 0xffffffffffffull, 12);
}

std::optional<uint64_t> event_ids::seq_of(std::string_view uuid) const {
  if (uuid.size() != 36 || uuid.compare(0, head_.size(), head_) != 0)
    return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = 20; i < 36; ++i) {
    if (i == 23)
      continue; // the dash
    int v = hex_value(uuid[i]);
    if (v < 0)
      return std::nullopt;
    seq = (seq << 4) | static_cast<uint64_t>(v);
  }
  return seq;
}

} // namespace cxesdb::tools
