/* Shared helpers for the integration workloads (header-only, no profiler API).
 * Every workload measures its work in thread CPU time, so that the split of CPU
 * between functions and threads is fixed by construction, whatever the machine
 * load is. */
#ifndef PPAGENT_INTEGRATION_BURNLIB_H
#define PPAGENT_INTEGRATION_BURNLIB_H

#include <stdint.h>
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
