/* cpu_split THREADS SECONDS
 *
 * Each of THREADS threads spends SECONDS of its own CPU time, 70% of it in
 * burn_seventy() and 30% in burn_thirty(). The split is enforced on measured
 * thread CPU time (CLOCK_THREAD_CPUTIME_ID) with a running balance, so it is
 * exact up to one chunk whatever the machine load.
 *
 * Chunk lengths are pseudo-random (cycle of 2..14 ms of CPU): a fixed 7 ms/3 ms
 * rhythm would be commensurate with the sampling period (10 ms at 100 Hz) and
 * with the 4 ms kernel tick that CPU-time timers fire on, and the samples could
 * alias onto one phase of the cycle (e.g. 80/20 instead of 70/30). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "burnlib.h"

static volatile uint64_t sink;

/* The two functions differ in their constants so identical-code folding cannot
 * merge them. Each spins for at least `ns` of thread CPU and returns how much it
 * really spent (SPIN_THREAD_CPU_WITH). */
__attribute__((noinline, noclone)) uint64_t burn_seventy(uint64_t ns) {
  return SPIN_THREAD_CPU_WITH(ns, sink, 1, 6364136223846793005ull, 1442695040888963407ull);
}

__attribute__((noinline, noclone)) uint64_t burn_thirty(uint64_t ns) {
  return SPIN_THREAD_CPU_WITH(ns, sink, 3, 2862933555777941757ull, 3037000493ull);
}

static uint64_t target_ns;

static void *worker(void *arg) {
  uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(uintptr_t)arg + 12345;
  char name[16];
  snprintf(name, sizeof name, "split-%d", (int)(uintptr_t)arg);
  pthread_setname_np(pthread_self(), name);
  uint64_t spent70 = 0, spent30 = 0;
  uint64_t begin = thread_cpu_ns();
  while (thread_cpu_ns() - begin < target_ns) {
    uint64_t cycle = 2000000 + xorshift64(&seed) % 12000000; /* 2..14 ms */
    spent70 += burn_seventy(cycle * 7 / 10);
    /* keep the cumulative split at exactly 70:30 */
    uint64_t want30 = spent70 * 3 / 7;
    if (want30 > spent30) spent30 += burn_thirty(want30 - spent30);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cpu_split THREADS SECONDS\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  target_ns = seconds_arg_ns(argv[2]);
  pthread_t t[64];
  if (threads < 1 || threads > 64) return 2;
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  printf("process_cpu_ns=%llu\n", (unsigned long long)process_cpu_ns());
  return 0;
}
