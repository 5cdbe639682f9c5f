#include "tools/shell/interrupt.hpp"

namespace cxesdb::shell {

namespace {

volatile std::sig_atomic_t sigint_seen = 0;

extern "C" void on_guarded_sigint(int) {
  sigint_seen = 1;
}

} // namespace

sigint_guard::sigint_guard() {
  sigint_seen = 0;
  struct sigaction sa {};
  sa.sa_handler = on_guarded_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_);
}

sigint_guard::~sigint_guard() {
  sigaction(SIGINT, &old_, nullptr);
}

bool sigint_guard::interrupted() noexcept {
  return sigint_seen != 0;
}

} // namespace cxesdb::shell
