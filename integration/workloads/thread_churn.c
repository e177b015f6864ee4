/* thread_churn ROUNDS THREADS GODIR
 *
 * ROUNDS rounds of THREADS short-lived threads each; in every round half the
 * threads are joined and half are detached. Each thread burns ~0.3 ms of CPU,
 * allocates and frees a few blocks and takes a shared mutex, and adds a value
 * derived from its index to a total. After each round, once every thread of
 * the round has ended (the process is back to the threads it had at start),
 * it prints "round K" and waits until the file GODIR/go.K exists, so that a
 * test can look at /proc/PID (timers, memory, threads) between rounds. At the
 * end it prints the total, which does not depend on timing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "burnlib.h"

static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t total;
static atomic_int finished;
static volatile uint64_t sink;

__attribute__((noinline, noclone)) static void churn_burn(uint64_t ns) {
  uint64_t start = thread_cpu_ns();
  uint64_t x = sink | 1;
  while (thread_cpu_ns() - start < ns)
    for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  sink = x;
}

__attribute__((noinline, noclone)) static void *churn_thread(void *arg) {
  uint64_t index = (uint64_t)(uintptr_t)arg;
  churn_burn(300000);
  char *blocks[8];
  for (int i = 0; i < 8; i++) {
    blocks[i] = malloc(256 + 64 * i);
    memset(blocks[i], (int)index, 256);
  }
  uint64_t value = (uint64_t)(unsigned char)blocks[7][0] + index * 3;
  for (int i = 0; i < 8; i++) free(blocks[i]);
  pthread_mutex_lock(&total_lock);
  total += value;
  pthread_mutex_unlock(&total_lock);
  atomic_fetch_add(&finished, 1);
  return NULL;
}

static int count_threads(void) {
  DIR *dir = opendir("/proc/self/task");
  if (dir == NULL) return -1;
  int n = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL)
    if (entry->d_name[0] != '.') n++;
  closedir(dir);
  return n;
}

static void pause_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {}
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: thread_churn ROUNDS THREADS GODIR\n");
    return 2;
  }
  int rounds = atoi(argv[1]), per_round = atoi(argv[2]);
  const char *godir = argv[3];
  setvbuf(stdout, NULL, _IOLBF, 0);
  const int threads_at_start = count_threads();
  for (int round = 1; round <= rounds; round++) {
    atomic_store(&finished, 0);
    pthread_t joinable[per_round];
    int njoin = 0;
    for (int i = 0; i < per_round; i++) {
      uint64_t index = (uint64_t)(round - 1) * per_round + i;
      pthread_t t;
      if (pthread_create(&t, NULL, churn_thread, (void *)(uintptr_t)index) != 0) {
        perror("pthread_create");
        return 3;
      }
      if (i % 2) pthread_detach(t);
      else joinable[njoin++] = t;
    }
    for (int i = 0; i < njoin; i++) pthread_join(joinable[i], NULL);
    while (atomic_load(&finished) < per_round) pause_ms(1);
    /* Detached threads have returned but may still be ending. */
    for (int waited = 0; count_threads() > threads_at_start; waited++) {
      if (waited > 30000) {
        fprintf(stderr, "threads did not end: %d > %d\n", count_threads(), threads_at_start);
        return 4;
      }
      pause_ms(1);
    }
    printf("round %d\n", round);
    char go[4096];
    snprintf(go, sizeof go, "%s/go.%d", godir, round);
    for (int waited = 0; access(go, F_OK) != 0; waited++) {
      if (waited > 120000) {
        fprintf(stderr, "no %s\n", go);
        return 5;
      }
      pause_ms(1);
    }
  }
  printf("threads=%d total=%llu\n", rounds * per_round, (unsigned long long)total);
  return 0;
}
