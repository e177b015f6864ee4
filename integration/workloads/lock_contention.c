/* lock_contention MODE ARGS... [--quit FILE]
 *
 * Contention with a known amount of waiting, for the mutex and block profiles
 * (issue 4). Every mode measures its own waiting with CLOCK_MONOTONIC read
 * immediately before the lock/wait call and immediately after it returns, and
 * prints the sum in nanoseconds; the tests compare the profiles with it.
 *
 *   mutex THREADS ROUNDS HOLD_US
 *       THREADS threads share one pthread mutex; each, ROUNDS times, takes it
 *       in wait_for_lock() (the only caller of pthread_mutex_lock) and then
 *       holds it for HOLD_US microseconds of nanosleep in hold_and_release()
 *       (the only caller of pthread_mutex_unlock). Prints
 *       `mutex_wait_ns=<sum over all threads of the time spent in lock()>` and
 *       `mutex_wait_until_release_ns=<the same sum, each wait counted only up
 *       to the release that ended it>` (the releaser timestamps its unlock;
 *       the difference is the waiters' wake-up latency after that release,
 *       which no release is charged with in Go's mutex profile).
 *   cond ROUNDS WORK_US
 *       Two threads pass a turn back and forth through one pthread_cond_t:
 *       on its turn a thread works WORK_US microseconds (nanosleep, the mutex
 *       not held), then hands the turn over (cond_signal); the other waits in
 *       pingpong_wait() (the only caller of pthread_cond_wait). Prints
 *       `cond_wait_ns=<sum of the time spent in pthread_cond_wait>`.
 *   rwlock READERS ROUNDS HOLD_US
 *       Per round: a writer takes the rwlock for writing (writer_take), then a
 *       barrier releases READERS readers into reader_wait() (the only caller
 *       of pthread_rwlock_rdlock) while the writer holds it HOLD_US
 *       microseconds and releases it in writer_release() (the only caller of
 *       pthread_rwlock_unlock for the write lock). Readers unlock in
 *       reader_release(); a second barrier ends the round, so the writer never
 *       waits. Prints `rwlock_read_wait_ns=<sum of the readers' rdlock time>`
 *       and `rwlock_read_wait_until_release_ns=` (up to the writer's unlock).
 *
 * With --quit FILE the program prints `ready` after the contention and waits
 * (polling with nanosleep) until FILE exists, then exits 0; dumps are taken
 * meanwhile. Nothing in here is timed by the tests: the printed sums are the
 * truth the profiles are compared with. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps a call from becoming a tail call (so the caller's frame is on the
 * stack the profiler records) and from being merged with its neighbours. */
#define BARRIER() __asm__ volatile("" ::: "memory")

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void die(const char *what, int rc) {
  fprintf(stderr, "lock_contention: %s: %s\n", what, strerror(rc));
  exit(1);
}

/* ---------------------------------------------------------------- mutex */

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_start;
static long g_rounds, g_hold_us;
/* When the lock was last released (written by the holder just before its
 * unlock, read by the next holder just after its lock: ordered by the lock). */
static int64_t g_last_release;

struct waited {
  int64_t total;         /* time in lock() */
  int64_t until_release; /* the part before the release that ended the wait */
};

NOINLINE void wait_for_lock(pthread_mutex_t *m, struct waited *w) {
  int64_t t0 = now_ns();
  int rc = pthread_mutex_lock(m);
  int64_t t1 = now_ns();
  if (rc != 0) die("pthread_mutex_lock", rc);
  w->total += t1 - t0;
  if (g_last_release > t0) w->until_release += g_last_release - t0;
  BARRIER();
}

NOINLINE void hold_and_release(pthread_mutex_t *m, long hold_us) {
  sleep_us(hold_us);
  g_last_release = now_ns();
  int rc = pthread_mutex_unlock(m);
  BARRIER();
  if (rc != 0) die("pthread_mutex_unlock", rc);
}

static void *mutex_thread(void *arg) {
  struct waited *w = arg;
  pthread_barrier_wait(&g_start);
  for (long i = 0; i < g_rounds; i++) {
    wait_for_lock(&g_mutex, w);
    hold_and_release(&g_mutex, g_hold_us);
  }
  return NULL;
}

static void run_mutex(int threads, long rounds, long hold_us) {
  g_rounds = rounds;
  g_hold_us = hold_us;
  pthread_t tid[64];
  struct waited waited[64];
  memset(waited, 0, sizeof waited);
  pthread_barrier_init(&g_start, NULL, (unsigned)threads);
  for (int i = 0; i < threads; i++) {
    int rc = pthread_create(&tid[i], NULL, mutex_thread, &waited[i]);
    if (rc) die("pthread_create", rc);
  }
  int64_t total = 0, until_release = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    total += waited[i].total;
    until_release += waited[i].until_release;
  }
  pthread_barrier_destroy(&g_start);
  printf("mutex_wait_ns=%lld\n", (long long)total);
  printf("mutex_wait_until_release_ns=%lld\n", (long long)until_release);
}

/* ----------------------------------------------------------------- cond */

static pthread_mutex_t g_cmutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_turn;
static long g_work_us;

/* Waits until it is `me`'s turn; returns the time spent in pthread_cond_wait. */
NOINLINE int64_t pingpong_wait(int me) {
  int64_t waited = 0;
  while (g_turn != me) {
    int64_t t0 = now_ns();
    int rc = pthread_cond_wait(&g_cond, &g_cmutex);
    waited += now_ns() - t0;
    if (rc) die("pthread_cond_wait", rc);
  }
  BARRIER();
  return waited;
}

static void *cond_thread(void *arg) {
  int me = (int)(intptr_t)arg;
  int64_t waited = 0;
  for (long i = 0; i < g_rounds; i++) {
    pthread_mutex_lock(&g_cmutex);
    waited += pingpong_wait(me);
    pthread_mutex_unlock(&g_cmutex);
    sleep_us(g_work_us); /* my turn: work without the mutex */
    pthread_mutex_lock(&g_cmutex);
    g_turn = 1 - me;
    pthread_cond_signal(&g_cond);
    pthread_mutex_unlock(&g_cmutex);
  }
  return (void *)(intptr_t)waited;
}

static void run_cond(long rounds, long work_us) {
  g_rounds = rounds;
  g_work_us = work_us;
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    int rc = pthread_create(&t[i], NULL, cond_thread, (void *)(intptr_t)i);
    if (rc) die("pthread_create", rc);
  }
  int64_t total = 0;
  for (int i = 0; i < 2; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    total += (int64_t)(intptr_t)ret;
  }
  printf("cond_wait_ns=%lld\n", (long long)total);
}

/* --------------------------------------------------------------- rwlock */

static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t g_in, g_out;
static int64_t g_write_release; /* the writer's unlock time this round */

NOINLINE void writer_take(pthread_rwlock_t *rw) {
  int rc = pthread_rwlock_wrlock(rw);
  BARRIER();
  if (rc) die("pthread_rwlock_wrlock", rc);
}

NOINLINE void writer_release(pthread_rwlock_t *rw) {
  int rc = pthread_rwlock_unlock(rw);
  BARRIER();
  if (rc) die("pthread_rwlock_unlock (writer)", rc);
}

NOINLINE void reader_wait(pthread_rwlock_t *rw, struct waited *w) {
  int64_t t0 = now_ns();
  int rc = pthread_rwlock_rdlock(rw);
  int64_t t1 = now_ns();
  if (rc) die("pthread_rwlock_rdlock", rc);
  w->total += t1 - t0;
  if (g_write_release > t0) w->until_release += g_write_release - t0;
  BARRIER();
}

NOINLINE void reader_release(pthread_rwlock_t *rw) {
  int rc = pthread_rwlock_unlock(rw);
  BARRIER();
  if (rc) die("pthread_rwlock_unlock (reader)", rc);
}

static void *reader_thread(void *arg) {
  struct waited *w = arg;
  for (long i = 0; i < g_rounds; i++) {
    pthread_barrier_wait(&g_in);
    reader_wait(&g_rw, w);
    reader_release(&g_rw);
    pthread_barrier_wait(&g_out);
  }
  return NULL;
}

static void run_rwlock(int readers, long rounds, long hold_us) {
  g_rounds = rounds;
  pthread_t t[64];
  struct waited waited[64];
  memset(waited, 0, sizeof waited);
  pthread_barrier_init(&g_in, NULL, (unsigned)readers + 1);
  pthread_barrier_init(&g_out, NULL, (unsigned)readers + 1);
  for (int i = 0; i < readers; i++) {
    int rc = pthread_create(&t[i], NULL, reader_thread, &waited[i]);
    if (rc) die("pthread_create", rc);
  }
  for (long i = 0; i < rounds; i++) {
    writer_take(&g_rw);
    pthread_barrier_wait(&g_in);
    sleep_us(hold_us);
    g_write_release = now_ns();
    writer_release(&g_rw);
    pthread_barrier_wait(&g_out);
  }
  int64_t total = 0, until_release = 0;
  for (int i = 0; i < readers; i++) {
    pthread_join(t[i], NULL);
    total += waited[i].total;
    until_release += waited[i].until_release;
  }
  printf("rwlock_read_wait_ns=%lld\n", (long long)total);
  printf("rwlock_read_wait_until_release_ns=%lld\n", (long long)until_release);
}

/* ----------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: lock_contention mutex THREADS ROUNDS HOLD_US [--quit FILE]\n"
          "       lock_contention cond ROUNDS WORK_US [--quit FILE]\n"
          "       lock_contention rwlock READERS ROUNDS HOLD_US [--quit FILE]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *quit = NULL;
  if (argc >= 3 && strcmp(argv[argc - 2], "--quit") == 0) {
    quit = argv[argc - 1];
    argc -= 2;
  }
  if (argc < 2) usage();
  const char *mode = argv[1];
  if (strcmp(mode, "mutex") == 0 && argc == 5) {
    int threads = atoi(argv[2]);
    if (threads < 2 || threads > 64) usage();
    run_mutex(threads, atol(argv[3]), atol(argv[4]));
  } else if (strcmp(mode, "cond") == 0 && argc == 4) {
    run_cond(atol(argv[2]), atol(argv[3]));
  } else if (strcmp(mode, "rwlock") == 0 && argc == 5) {
    int readers = atoi(argv[2]);
    if (readers < 1 || readers > 64) usage();
    run_rwlock(readers, atol(argv[3]), atol(argv[4]));
  } else {
    usage();
  }
  fflush(stdout);
  if (quit) {
    printf("ready\n");
    fflush(stdout);
    while (access(quit, F_OK) != 0) sleep_us(10000);
  }
  return 0;
}
