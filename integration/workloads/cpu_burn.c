/* cpu_burn THREADS SECONDS
 *
 * THREADS threads (named burn-1..burn-N) each spend SECONDS of thread CPU time
 * in burn_cpu(); with THREADS = 0 the main thread burns. At the end main prints
 * the process CPU time it measured (CLOCK_PROCESS_CPUTIME_ID), which covers
 * everything the profiler could have sampled up to that point.
 * Built twice: with -g (cpu_burn) and without any debug info (cpu_burn_nodebug). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "burnlib.h"

static volatile uint64_t sink;
static uint64_t target_ns;

__attribute__((noinline, noclone)) void burn_cpu(uint64_t ns) {
  SPIN_THREAD_CPU(ns, sink);
}

static void *worker(void *arg) {
  char name[16];
  snprintf(name, sizeof name, "burn-%d", (int)(uintptr_t)arg);
  pthread_setname_np(pthread_self(), name);
  burn_cpu(target_ns);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cpu_burn THREADS SECONDS\n");
    return 2;
  }
  int threads = atoi(argv[1]);
  target_ns = seconds_arg_ns(argv[2]);
  if (threads < 0 || threads > 64) return 2;
  if (threads == 0) {
    burn_cpu(target_ns);
  } else {
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  }
  printf("process_cpu_ns=%llu\n", (unsigned long long)process_cpu_ns());
  return 0;
}
