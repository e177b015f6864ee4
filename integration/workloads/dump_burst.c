/* dump_burst STOPFILE
 *
 * Does a fixed amount of work (CPU, allocations kept and freed, a mutex taken
 * by two threads), prints "ready", then goes on working until STOPFILE
 * exists, so that a test can send a burst of dump signals meanwhile. Sleeps
 * are restarted when a signal cuts them short, as a careful program does.
 * Prints a checksum of the fixed work, which does not depend on timing or on
 * how many signals arrived. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shared_sum;

__attribute__((noinline, noclone)) static uint64_t burst_work(uint64_t seed, int steps) {
  uint64_t x = seed;
  for (int i = 0; i < steps; i++) {
    size_t size = 64 + (x % 4096);
    unsigned char *block = malloc(size);
    memset(block, (int)(x & 0xff), size);
    x = x * 6364136223846793005ULL + block[size - 1] + 1442695040888963407ULL;
    free(block);
    pthread_mutex_lock(&lock);
    shared_sum += x & 0xffff;
    pthread_mutex_unlock(&lock);
  }
  return x;
}

static void *worker(void *arg) {
  uint64_t *result = arg;
  *result = burst_work(*result, 200000);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dump_burst STOPFILE\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  uint64_t checksum = burst_work(1, 50000);
  printf("ready\n");
  int rounds = 0;
  do {
    uint64_t seed = 7 + (uint64_t)rounds, other = 11 + (uint64_t)rounds;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, &other) != 0) return 3;
    seed = burst_work(seed, 200000);
    pthread_join(t, NULL);
    if (rounds < 3) checksum ^= seed ^ other;  /* the fixed part of the work */
    rounds++;
    struct timespec pause = {0, 20000000};
    while (nanosleep(&pause, &pause) != 0) {}
  } while (rounds < 3 || access(argv[1], F_OK) != 0);
  printf("checksum=%llx\n", (unsigned long long)checksum);
  return 0;
}
