/* Shared helpers for the integration workloads (header-only, no profiler API).
 * Every workload measures its work in thread CPU time, so that the split of CPU
 * between functions and threads is fixed by construction, whatever the machine
 * load is. */
#ifndef PPAGENT_INTEGRATION_BURNLIB_H
#define PPAGENT_INTEGRATION_BURNLIB_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t process_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spins until the calling thread has used `ns` of CPU time, storing into
 * `sink` so the work stays. Always inlined: the CPU is charged to the
 * function that calls it, which is what the tests look for. */
static inline __attribute__((always_inline)) void burn_thread_cpu(uint64_t ns,
                                                                  volatile unsigned long *sink) {
  unsigned long x = 1;
  uint64_t start = thread_cpu_ns();
  while (thread_cpu_ns() - start < ns) {
    for (int i = 0; i < 20000; i++) x = x * 6364136223846793005ul + 1;
    *sink = x;
  }
}

/* The body of a workload's named burn function: spins until the calling
 * thread has used `ns` of CPU time, storing into the volatile `sink` so the
 * work stays, and yields the CPU time it did use. The clock is read only every
 * 200000 steps (~250 us of work; reading it is a system call) so that
 * clock_gettime stays well under 1% of a profile. `odd`, `mul` and `add`
 * choose the generator: two burn functions with other constants cannot be
 * merged by identical-code folding.
 * A macro, not an inline function: the tests look for the CPU in the named
 * function itself (its flat time), and the debug info of an inline function
 * would give it to an inlined frame of its own. */
#define SPIN_THREAD_CPU_WITH(ns, sink, odd, mul, add)                             \
  ({                                                                              \
    uint64_t spin_start_ = thread_cpu_ns(), spin_now_;                            \
    uint64_t spin_x_ = (sink) | (odd);                                            \
    do {                                                                          \
      for (int spin_i_ = 0; spin_i_ < 200000; spin_i_++) spin_x_ = spin_x_ * (mul) + (add); \
      (sink) = spin_x_;                                                           \
      spin_now_ = thread_cpu_ns();                                                \
    } while (spin_now_ - spin_start_ < (ns));                                     \
    spin_now_ - spin_start_;                                                      \
  })

/* The same with Knuth's MMIX generator, for a workload's one burn function. */
#define SPIN_THREAD_CPU(ns, sink) \
  SPIN_THREAD_CPU_WITH(ns, sink, 1, 6364136223846793005ull, 1442695040888963407ull)

/* A command-line argument in seconds (fractions allowed), in nanoseconds. */
static inline uint64_t seconds_arg_ns(const char *arg) { return (uint64_t)(atof(arg) * 1e9); }

/* xorshift64: deterministic pseudo-random numbers, seeded per thread. */
static inline uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

#endif
