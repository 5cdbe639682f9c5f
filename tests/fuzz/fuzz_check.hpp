#pragma once

#include <cstdio>
#include <cstdlib>

/// A fuzz target's own check: when it fails, the input was misread (or a
/// round trip lost something). Aborts, so libFuzzer records the input as a
/// crash and the regression runner fails on it.
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__,        \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
