#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// A piece of a snapshot image on its way from the leader to a follower.
///
/// A store's snapshot is its database file, far too large for one message:
/// the leader sends it in chunks of at most `consensus_config::
/// snapshot_chunk_bytes`, one at a time, each acknowledged with the offset
/// the follower's copy has reached. A lost chunk or ack, a new connection or
/// a resent InstallSnapshot resumes at that offset; memory holds one chunk
/// per transfer. Once the whole image is on the follower's disk and in
/// place, the core receives `header`, the InstallSnapshot itself (its
/// snapshot carries the metadata and no data).
struct snapshot_chunk {
  /// The core's InstallSnapshot message: from, to, term, snapshot metadata.
  message header;
  /// Where `data` starts in the image.
  uint64_t offset = 0;
  /// The image's size in bytes.
  uint64_t total = 0;
  std::string data;
};

/// A follower's answer to a chunk: the offset it has written up to (the
/// next chunk it wants), or `done` once the image is installed.
struct snapshot_ack {
  node_id from = no_node;
  node_id to = no_node;
  /// The snapshot this is about.
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t next_offset = 0;
  bool done = false;
};

/// First bytes of encoded chunks and acks; no encoded `message` starts with
/// them (its first byte is a message_type), so they share its transport.
constexpr uint8_t snapshot_chunk_tag = 0xC1;
constexpr uint8_t snapshot_ack_tag = 0xC2;

std::string encode(const snapshot_chunk& c);
std::string encode(const snapshot_ack& a);

/// Decode a peer's bytes; nullopt when malformed (input, not trusted): a
/// chunk must carry an InstallSnapshot header and lie within its image.
std::optional<snapshot_chunk> decode_snapshot_chunk(const std::string& bytes);
std::optional<snapshot_ack> decode_snapshot_ack(const std::string& bytes);

} // namespace cxesdb::actors::raft
