// Fuzz target: the Raft message codec, the bytes a peer sends
// (actors/raft/codec.hpp, actors/raft/snapshot_chunk.hpp, and the batches of
// the node's transport, actors/raft/transport_codec.hpp). Every decoder
// gets every input: it must refuse or decode, never crash, and what it
// decodes must encode to bytes that decode to the same thing.

#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/raft/codec.hpp"
#include "actors/raft/snapshot_chunk.hpp"
#include "actors/raft/transport_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace cxesdb::actors::raft;

namespace {

/// `encode` of what a decoder read is stable: its bytes decode, and encode
/// again to themselves.
template <class T, class Decode>
void check_round_trip(const T& x, Decode decode) {
  auto bytes = encode(x);
  auto again = decode(bytes);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(encode(*again) == bytes);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes{reinterpret_cast<const char*>(data), size};
  if (auto m = decode_message(bytes))
    check_round_trip(*m, decode_message);
  if (auto c = decode_snapshot_chunk(bytes)) {
    FUZZ_CHECK(c->header.type == message_type::snapshot && c->header.snap);
    FUZZ_CHECK(c->offset <= c->total);
    FUZZ_CHECK(c->data.size() <= c->total - c->offset);
    check_round_trip(*c, decode_snapshot_chunk);
  }
  if (auto a = decode_snapshot_ack(bytes))
    check_round_trip(*a, decode_snapshot_ack);
  if (auto batch = decode_routed(bytes)) {
    std::string again;
    for (auto& m : *batch) {
      FUZZ_CHECK(!m.group.empty() && m.group.size() <= routed_group_bytes_max);
      append_routed(again, m.group, m.bytes);
    }
    FUZZ_CHECK(again == bytes);
  }
  if (auto conf = decode_conf_state(bytes)) {
    check_round_trip(*conf, decode_conf_state);
    FUZZ_CHECK(*decode_conf_state(encode(*conf)) == *conf);
  }
  return 0;
}
