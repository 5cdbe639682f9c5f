#include "actors/raft/snapshot_chunk.hpp"

#include "actors/byte_codec.hpp"
#include "actors/raft/codec.hpp"

namespace cxesdb::actors::raft {

std::string encode(const snapshot_chunk& c) {
  actors::byte_writer w;
  w.u8(snapshot_chunk_tag);
  w.str(encode(c.header));
  w.u64(c.offset);
  w.u64(c.total);
  w.str(c.data);
  return w.take();
}

std::string encode(const snapshot_ack& a) {
  actors::byte_writer w;
  w.u8(snapshot_ack_tag);
  w.u64(a.from);
  w.u64(a.to);
  w.u64(a.index);
  w.u64(a.term);
  w.u64(a.next_offset);
  w.u8(a.done ? 1 : 0);
  return w.take();
}

std::optional<snapshot_chunk> decode_snapshot_chunk(const std::string& bytes) {
  actors::byte_reader r{bytes};
  uint8_t tag = 0;
  std::string header;
  snapshot_chunk c;
  if (!r.u8(tag) || tag != snapshot_chunk_tag || !r.str(header)
      || !r.u64(c.offset) || !r.u64(c.total) || !r.str(c.data) || !r.done())
    return std::nullopt;
  auto m = decode_message(header);
  if (!m || m->type != message_type::snapshot || !m->snap
      || !m->snap->data.empty() || c.offset > c.total
      || c.data.size() > c.total - c.offset)
    return std::nullopt;
  c.header = std::move(*m);
  return c;
}

std::optional<snapshot_ack> decode_snapshot_ack(const std::string& bytes) {
  actors::byte_reader r{bytes};
  uint8_t tag = 0;
  uint8_t done = 0;
  snapshot_ack a;
  if (!r.u8(tag) || tag != snapshot_ack_tag || !r.u64(a.from) || !r.u64(a.to)
      || !r.u64(a.index) || !r.u64(a.term) || !r.u64(a.next_offset)
      || !r.u8(done) || done > 1 || !r.done())
    return std::nullopt;
  a.done = done == 1;
  return a;
}

} // namespace cxesdb::actors::raft
