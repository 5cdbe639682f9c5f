#pragma once

#include <csignal>

namespace cxesdb::shell {

/// Catches SIGINT (Ctrl-C) for the lifetime of the guard, without
/// SA_RESTART and whatever libedit or main installed before, then puts back
/// what was there. The commands that run until interrupted (`tail`, `top`)
/// hold one and look at `interrupted()` between reads.
class sigint_guard {
public:
  sigint_guard();
  sigint_guard(const sigint_guard&) = delete;
  sigint_guard& operator=(const sigint_guard&) = delete;
  ~sigint_guard();

  /// Whether SIGINT came since the newest guard was made.
  static bool interrupted() noexcept;

private:
  struct sigaction old_ {};
};

} // namespace cxesdb::shell
