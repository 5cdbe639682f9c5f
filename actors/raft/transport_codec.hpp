#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cxesdb::actors::raft {

/// One Raft message on its way between nodes: the group it belongs to and
/// its bytes (codec.hpp or snapshot_chunk.hpp).
struct routed_message {
  std::string group;
  std::string bytes;
};

/// The most messages one batch holds, and the longest group name; a batch
/// from a peer beyond them is refused whole.
constexpr size_t routed_batch_messages_max = 1u << 16;
constexpr size_t routed_group_bytes_max = 1024;

/// Appends one message to a batch for a peer node: the group's length (u32,
/// little-endian), the group, the bytes' length (u32), the bytes.
void append_routed(std::string& batch, std::string_view group,
                   std::string_view bytes);

/// The messages of a batch from a peer, in order; none when the batch is
/// malformed (a length that runs past the end, an empty or overlong group,
/// too many messages): it is dropped whole, as Raft tolerates lost messages.
std::optional<std::vector<routed_message>> decode_routed(std::string_view batch);

} // namespace cxesdb::actors::raft
