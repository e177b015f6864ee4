/* thread_shares UNIT_SECONDS
 *
 * Four threads named load-1..load-4; thread k spends k*UNIT_SECONDS of its own
 * CPU time in burn_share(), so their CPU shares are 10/20/30/40%. Main only
 * waits. Each thread prints "worker K tid TID" so the test can map the
 * profile's thread_id labels to the expected loads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "burnlib.h"

static volatile uint64_t sink;
static uint64_t unit_ns;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline, noclone)) void burn_share(uint64_t ns) {
  SPIN_THREAD_CPU(ns, sink);
}

static void *worker(void *arg) {
  int k = (int)(uintptr_t)arg;
  char name[16];
  snprintf(name, sizeof name, "load-%d", k);
  pthread_setname_np(pthread_self(), name);
  pthread_mutex_lock(&print_lock);
  printf("worker %d tid %d\n", k, (int)gettid());
  fflush(stdout);
  pthread_mutex_unlock(&print_lock);
  burn_share(unit_ns * (uint64_t)k);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: thread_shares UNIT_SECONDS\n");
    return 2;
  }
  unit_ns = seconds_arg_ns(argv[1]);
  pthread_t t[4];
  for (int k = 1; k <= 4; k++) pthread_create(&t[k - 1], NULL, worker, (void *)(uintptr_t)k);
  for (int k = 1; k <= 4; k++) pthread_join(t[k - 1], NULL);
  printf("main tid %d\n", (int)gettid());
  return 0;
}
