#include "gateway/uuid.hpp"

#include <cctype>

namespace cxesdb::gateway {

std::string uuid_generator::next(int64_t epoch_ms) {
  uint8_t b[16];
  auto ms = static_cast<uint64_t>(epoch_ms);
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  auto r1 = rng_();
  auto r2 = rng_();
  for (int i = 0; i < 2; ++i)
    b[6 + i] = static_cast<uint8_t>(r1 >> (8 * i));
  for (int i = 0; i < 8; ++i)
    b[8 + i] = static_cast<uint8_t>(r2 >> (8 * i));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x70); // version 7
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80); // variant 10
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out.push_back('-');
    out.push_back(hex[b[i] >> 4]);
    out.push_back(hex[b[i] & 0x0f]);
  }
  return out;
}

bool valid_uuid(const std::string& text) {
  if (text.size() != 36)
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-')
        return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string canonical_uuid(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

} // namespace cxesdb::gateway
