#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace cxesdb::gateway {

/// Makes UUIDv7 strings (RFC 9562): 48 bits of Unix milliseconds, then
/// random bits, so that generated event ids sort by creation time.
/// Randomness is injected through the seed. Not thread-safe: one per worker.
class uuid_generator {
public:
  explicit uuid_generator(uint64_t seed) : rng_(seed) {
  }

  std::string next(int64_t epoch_ms);

private:
  std::mt19937_64 rng_;
};

/// Whether `text` is a UUID in 8-4-4-4-12 hex form (either case).
bool valid_uuid(const std::string& text);

/// Lower-cases the hex digits of a valid UUID.
std::string canonical_uuid(std::string text);

} // namespace cxesdb::gateway
