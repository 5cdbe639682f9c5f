#pragma once

#include <optional>
#include <string>

#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// Durable home of a core's hard state, log and latest snapshot (LogCabin's
/// split: the algorithm never sees how it is stored). Implementations block;
/// shells call them off the scheduler threads.
class storage {
public:
  virtual ~storage() = default;

  /// Loads what was persisted; an error text when the storage is unusable.
  virtual std::optional<std::string> load(initial_state& out) = 0;

  /// Persists the durable part of `rd` (snapshot, entries, hard state) in
  /// one atomic, synced step; an error text when it did not happen.
  virtual std::optional<std::string> save(const ready& rd) = 0;
};

/// The in-memory twin of the SQLite storage, for the simulator and unit
/// tests. "Crashing" a node keeps this object: it holds exactly what a real
/// disk would hold after the last completed save.
class memory_storage : public storage {
public:
  memory_storage() = default;

  /// Starts with `init` already persisted (bootstrap).
  explicit memory_storage(initial_state init) : state_(std::move(init)) {
  }

  std::optional<std::string> load(initial_state& out) override;

  std::optional<std::string> save(const ready& rd) override;

  const initial_state& state() const noexcept {
    return state_;
  }

  /// Number of completed saves.
  uint64_t saves() const noexcept {
    return saves_;
  }

private:
  initial_state state_;
  uint64_t saves_ = 0;
};

} // namespace cxesdb::actors::raft
