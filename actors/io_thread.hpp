#pragma once

namespace cxesdb::actors {

/// Marks the threads that may block: the IO pool's threads (and the job that
/// runs inline after the pool stopped). Blocking code (SQLite) checks
/// `may_block()` so that a call from a CAF scheduler thread aborts at once
/// instead of stalling the actors that share that thread.
struct io_thread {
  /// True on an IO pool thread.
  static inline thread_local bool active = false;

  /// Whether the check is enforced. The node turns it on; unit tests, which
  /// call SQLite from the test thread, leave it off.
  static inline bool enforced = false;

  static bool may_block() noexcept {
    return !enforced || active;
  }

  /// Sets `active` for a scope.
  struct scope {
    bool saved;
    scope() : saved(active) {
      active = true;
    }
    ~scope() {
      active = saved;
    }
  };
};

} // namespace cxesdb::actors
