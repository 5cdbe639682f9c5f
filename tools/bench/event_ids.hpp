#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cxesdb::tools {

/// Event ids of one benchmark run: UUIDs (version 4 layout) whose first 64
/// bits are the run's tag and whose last 60 bits are a sequence number, so a
/// subscriber can tell the run's events apart and match each delivery to its
/// append without a lookup table of strings.
class event_ids {
public:
  explicit event_ids(uint64_t run_tag);

  /// Appends the UUID text (36 characters) of sequence number `seq`.
  void append(std::string& out, uint64_t seq) const;

  /// The sequence number of `uuid` when it belongs to this run.
  std::optional<uint64_t> seq_of(std::string_view uuid) const;

  uint64_t run_tag() const noexcept {
    return run_tag_;
  }

private:
  uint64_t run_tag_;
  std::string head_; // the first 19 characters, "xxxxxxxx-xxxx-4xxx-"
};

/// splitmix64: the generator's small, fast, seedable PRNG.
class prng {
public:
  explicit prng(uint64_t seed) : state_(seed) {
  }

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// A number in [0, n); n > 0.
  uint64_t below(uint64_t n) noexcept {
    return next() % n;
  }

private:
  uint64_t state_;
};

} // namespace cxesdb::tools
