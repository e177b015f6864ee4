// Mostly idle threads, for run_wall_bench.py: THREADS threads each wait on a
// condition variable, waking every WAKE seconds (default 1; 0: never), for
// SECONDS; the main thread
// meanwhile does a little work every 10 ms on a fixed schedule and reports
// how late it ever was (a program that keeps working under the wall sampler
// is never late by much), and how many of its steps it did.
//
// Usage: wall_threads THREADS SECONDS [WAKE]
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_done;
static volatile double g_sink;
static int g_wake_seconds = 1;

static void* idle_thread(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_mutex);
  while (!g_done) {
    if (g_wake_seconds == 0) {
      pthread_cond_wait(&g_cond, &g_mutex);
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += g_wake_seconds;
    pthread_cond_timedwait(&g_cond, &g_mutex, &until);
  }
  pthread_mutex_unlock(&g_mutex);
  return NULL;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: wall_threads THREADS SECONDS [WAKE]\n");
    return 2;
  }
  if (argc == 4) g_wake_seconds = atoi(argv[3]);
  const int n = atoi(argv[1]);
  const double seconds = atof(argv[2]);
  pthread_t* threads = calloc((size_t)n, sizeof *threads);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int i = 0; i < n; i++)
    if (pthread_create(&threads[i], &attr, idle_thread, NULL) != 0) return 3;

  const long long step = 10000000, start = now_ns(), end = start + (long long)(seconds * 1e9);
  long long next = start + step, worst_late = 0;
  long steps = 0;
  while (next <= end) {
    struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    const long long late = now_ns() - next;
    if (late > worst_late) worst_late = late;
    for (int i = 0; i < 1000; i++) g_sink += i;
    steps++;
    next += step;
  }
  pthread_mutex_lock(&g_mutex);
  g_done = 1;
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_mutex);
  for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
  printf("threads=%d steps=%ld worst_late_ms=%.3f\n", n, steps, worst_late / 1e6);
  return 0;
}
