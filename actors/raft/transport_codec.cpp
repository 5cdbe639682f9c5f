#include "actors/raft/transport_codec.hpp"

#include <cstdint>

namespace cxesdb::actors::raft {

namespace {

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

/// Reads a u32 at `pos`; false when fewer than 4 bytes are left.
bool get_u32(std::string_view in, size_t& pos, uint32_t& x) {
  if (in.size() - pos < 4)
    return false;
  x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<uint8_t>(in[pos + i])) << (8 * i);
  pos += 4;
  return true;
}

} // namespace

void append_routed(std::string& batch, std::string_view group,
                   std::string_view bytes) {
  put_u32(batch, static_cast<uint32_t>(group.size()));
  batch.append(group);
  put_u32(batch, static_cast<uint32_t>(bytes.size()));
  batch.append(bytes);
}

std::optional<std::vector<routed_message>>
decode_routed(std::string_view batch) {
  std::vector<routed_message> out;
  size_t pos = 0;
  while (pos < batch.size()) {
    if (out.size() == routed_batch_messages_max)
      return std::nullopt;
    uint32_t n = 0;
    if (!get_u32(batch, pos, n) || n == 0 || n > routed_group_bytes_max
        || n > batch.size() - pos)
      return std::nullopt;
    routed_message m;
    m.group.assign(batch.substr(pos, n));
    pos += n;
    if (!get_u32(batch, pos, n) || n > batch.size() - pos)
      return std::nullopt;
    m.bytes.assign(batch.substr(pos, n));
    pos += n;
    out.push_back(std::move(m));
  }
  return out;
}

} // namespace cxesdb::actors::raft
