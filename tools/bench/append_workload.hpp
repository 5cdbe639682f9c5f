#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tools/bench/event_ids.hpp"
#include "tools/bench/load_loop.hpp"

namespace cxesdb::tools {

/// How the append workload builds its requests.
struct append_options {
  /// Streams written to, chosen at random per request.
  uint64_t streams = 1000;
  static constexpr uint64_t streams_max = 10000000;

  /// Bytes of each event's `data` JSON text (`{"p":"xxx..."}`).
  size_t event_bytes = 256;
  static constexpr size_t event_bytes_min = 8;
  static constexpr size_t event_bytes_max = 1 << 20;

  /// Events per append_events request.
  size_t batch = 1;
  static constexpr size_t batch_max = 10000;

  /// True: `expected_version` is the stream's exact version, each client
  /// owning its streams. False: "any".
  bool exact = false;

  /// Target store; empty: the node's default store (no `store` param).
  std::string store;

  /// Prefix of the stream ids; stream i is `<prefix><i>`.
  std::string stream_prefix = "bench-";

  /// Seed of the stream choice.
  uint64_t seed = 1;

  /// Tag in every event id of the run (see event_ids).
  uint64_t run_tag = 0;
};

/// Appends `batch` events of `event_bytes` bytes (plus about 100 bytes of
/// metadata) to random streams. Request lines are built from pre-built
/// pieces: the only per-request work is the id, the stream, the version and
/// the event ids.
class append_workload : public workload {
public:
  append_workload(append_options opts, size_t clients);

  bool next_request(size_t client, uint64_t id, std::string& out,
                    request_slot& slot) override;

  void on_response(size_t client, const request_slot& slot,
                   const response_view& r, int64_t now_ns) override;

  void on_lost(size_t client, const request_slot& slot) override;

  bool want_version() const override {
    return opts_.exact;
  }

  /// Called with (first event seq, event count, ack time) for every
  /// successful append; the subscribe benchmark records ack times with it.
  std::function<void(uint64_t, uint32_t, int64_t)> on_ack;

  const event_ids& ids() const noexcept {
    return ids_;
  }

  /// Bytes of one event as sent (for the report).
  size_t event_wire_bytes() const noexcept {
    return 36 + event_tail_.size() + 14;
  }

private:
  /// Picks the stream of the next request of `client`; false when every
  /// stream of the client is busy (exact mode with pipelining).
  bool pick_stream(size_t client, uint64_t& stream);

  append_options opts_;
  size_t clients_;
  prng rng_;
  event_ids ids_;
  uint64_t next_seq_ = 0;
  std::string head_;       // {"jsonrpc":"2.0","id":
  std::string method_;     // ,"method":"append_events","params":{...,"stream":"
  std::string event_tail_; // ","event_type":...,"data":...,"metadata":...}
  // Exact mode: per stream, its version and whether a request is on it.
  std::vector<int64_t> version_;
  std::vector<bool> busy_;
};

} // namespace cxesdb::tools
