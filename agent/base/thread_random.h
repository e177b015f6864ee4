// Per-thread pseudo-random numbers for the samplers (xorshift64, seeded from
// the thread id and the clock on first use): no locks, no shared state.
#pragma once

#include <cstdint>
#include <ctime>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"

namespace ppagent {

inline uint64_t thread_random() {
  static __thread uint64_t state __attribute__((tls_model("initial-exec")));
  uint64_t x = state;
  if (x == 0)
    x = (static_cast<uint64_t>(syscall(SYS_gettid)) << 32) ^
        static_cast<uint64_t>(clock_ns(CLOCK_MONOTONIC)) ^ 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  state = x;
  return x;
}

// Uniform in (0, 1].
inline double thread_random_unit() {
  return static_cast<double>((thread_random() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

}  // namespace ppagent
