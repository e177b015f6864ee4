/* lock_bench MODE PAIRS [THREADS [WORK]]
 *
 * Cost of pthread_mutex_lock/unlock pairs, for the mutex/block profiling
 * benchmark (run_lock_bench.py). Prints one line:
 *   mode=<MODE> threads=<T> pairs=<total pairs> ns_per_pair=<wall ns / pairs>
 *   threads_in_process=<n> [contended=<pairs that found the lock taken>]
 *
 * Modes:
 *   uncontended     PAIRS lock/unlock pairs on one mutex in the main thread of
 *                   a process that never created a thread (glibc then takes
 *                   its single-threaded paths: no atomic read-modify-write).
 *                   If threads_in_process > 1 something else (the agent?)
 *                   started a thread, and glibc is on its multi-threaded path.
 *   uncontended-mt  The same, after one thread was created and joined: glibc
 *                   stays on its multi-threaded (atomic) paths from then on.
 *   contended       THREADS threads (default 2) share one mutex, each doing
 *                   PAIRS pairs with a short critical section (WORK dependent
 *                   multiply-adds, default 16, about 20 ns, on data the lock
 *                   protects) and as much work outside it; ns_per_pair is the
 *                   wall time over all THREADS x PAIRS pairs. A pair is
 *                   "contended" when trylock failed: the worker tries first
 *                   (the program's own trylock is not interposed) and calls
 *                   lock only then, so every contended pair goes through the
 *                   interposed pthread_mutex_lock's waiting path.
 *
 * Uncontended modes: ns_per_pair is the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) over the loop, so time the thread spent
 * preempted on a busy machine does not count; wall_ns_per_pair
 * (CLOCK_MONOTONIC) is printed too. Contended mode: ns_per_pair is wall time
 * (waiting is the point). Only the measured loop is timed, not process
 * start-up or exit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int threads_in_process(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
  fclose(f);
  return n;
}

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t g_counter;
static int g_work = 16;

static inline uint64_t work(uint64_t x, int n) {
  for (int i = 0; i < n; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((noinline)) static void uncontended_loop(long pairs) {
  for (long i = 0; i < pairs; i++) {
    pthread_mutex_lock(&g_m);
    g_counter++;
    pthread_mutex_unlock(&g_m);
  }
}

static void *nothing(void *a) { return a; }

struct worker {
  long pairs;
  long contended;
  pthread_barrier_t *start;
};

static void *contended_worker(void *p) {
  struct worker *w = p;
  uint64_t x = (uint64_t)(uintptr_t)p | 1;
  pthread_barrier_wait(w->start);
  for (long i = 0; i < w->pairs; i++) {
    if (pthread_mutex_trylock(&g_m) != 0) {
      w->contended++;
      pthread_mutex_lock(&g_m);
    }
    /* short critical section */
    uint64_t c = g_counter;
    x = work(x + c, g_work);
    g_counter = c + (x >> 63) + 1;
    pthread_mutex_unlock(&g_m);
    x = work(x, g_work); /* outside the lock */
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: lock_bench uncontended|uncontended-mt|contended PAIRS [THREADS [WORK]]\n");
    return 2;
  }
  const char *mode = argv[1];
  long pairs = atol(argv[2]);
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  if (argc > 4) g_work = atoi(argv[4]);
  if (pairs <= 0 || threads < 1 || threads > 256 || g_work < 0) {
    fprintf(stderr, "lock_bench: bad PAIRS, THREADS or WORK\n");
    return 2;
  }
  int64_t t0, t1, c0 = 0, c1 = 0;
  long total = pairs, contended = -1;
  int nthreads_seen;
  if (strcmp(mode, "uncontended") == 0 || strcmp(mode, "uncontended-mt") == 0) {
    if (strcmp(mode, "uncontended-mt") == 0) {
      pthread_t t;
      pthread_create(&t, NULL, nothing, NULL);
      pthread_join(t, NULL);
    }
    threads = 1;
    nthreads_seen = threads_in_process();
    uncontended_loop(pairs / 100 + 1); /* warm-up */
    t0 = now_ns();
    c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uncontended_loop(pairs);
    c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    t1 = now_ns();
  } else if (strcmp(mode, "contended") == 0) {
    pthread_t tid[256];
    struct worker w[256];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
      w[i].pairs = pairs;
      w[i].contended = 0;
      w[i].start = &start;
      pthread_create(&tid[i], NULL, contended_worker, &w[i]);
    }
    nthreads_seen = threads_in_process();
    t0 = now_ns();
    pthread_barrier_wait(&start);
    contended = 0;
    for (int i = 0; i < threads; i++) {
      pthread_join(tid[i], NULL);
      contended += w[i].contended;
    }
    t1 = now_ns();
    total = pairs * threads;
  } else {
    fprintf(stderr, "lock_bench: unknown mode %s\n", mode);
    return 2;
  }
  double wall = (double)(t1 - t0) / (double)total;
  double ns = c1 > c0 ? (double)(c1 - c0) / (double)total : wall;
  printf("mode=%s threads=%d pairs=%ld ns_per_pair=%.3f threads_in_process=%d", mode, threads,
         total, ns, nthreads_seen);
  if (c1 > c0) printf(" wall_ns_per_pair=%.3f", wall);
  if (contended >= 0) printf(" contended=%ld", contended);
  printf("\n");
  return 0;
}
