#pragma once

#include <cstdio>
#include <cstdlib>

/// Checks an invariant and aborts with a message when it does not hold.
/// Assertions stay on in every build type: a broken invariant in an event
/// store must stop the process before it writes anything wrong (TigerBeetle's
/// rule). Use for programmer errors only, never for bad input.
#define CXESDB_ASSERT(cond)                                                    \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,          \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
