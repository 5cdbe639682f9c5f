#pragma once

#include <cstdint>
#include <string>

#include "tools/bench/event_ids.hpp"
#include "tools/bench/load_loop.hpp"

namespace cxesdb::tools {

/// How the read workload builds its requests.
struct read_options {
  /// True: read_all pages; false: get_events pages of one stream.
  bool all = false;

  /// Streams read from (stream mode), `<prefix><i>`.
  uint64_t streams = 10;

  /// Events each stream holds (seeded before the run when missing).
  uint64_t stream_events = 1000;

  /// Events per page (`count`).
  uint64_t count = 100;
  static constexpr uint64_t count_max = 10000;

  /// Target store; empty: the node's default store.
  std::string store;

  /// Prefix of the stream ids.
  std::string stream_prefix = "benchread-";

  /// Seed of the page choice.
  uint64_t seed = 1;
};

/// Reads full pages at random offsets: get_events of a random stream from a
/// random start, or read_all from a random position below
/// streams * stream_events (positions are gapless from 0, so those exist).
class read_workload : public workload {
public:
  explicit read_workload(read_options opts);

  bool next_request(size_t client, uint64_t id, std::string& out,
                    request_slot& slot) override;

private:
  read_options opts_;
  prng rng_;
  std::string store_param_;
};

/// Sends `health` requests: the cheapest request the node answers, to show
/// how many requests per second the generator itself can drive.
class health_workload : public workload {
public:
  bool next_request(size_t client, uint64_t id, std::string& out,
                    request_slot& slot) override;
};

} // namespace cxesdb::tools
