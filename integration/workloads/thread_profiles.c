/* thread_profiles SLEEP_SECONDS
 *
 * Threads in known places, for the threads and threadcreate profiles:
 *   - 3 threads named "waiter-a", created by create_waiters_a(), each blocked
 *     in wait_here_a() (pthread_cond_wait);
 *   - 2 threads named "waiter-b", created by create_waiters_b(), blocked in
 *     wait_here_b();
 *   - 3 sleepers created by create_sleepers(): "sleep-sleep" in sleep(),
 *     "sleep-poll" in poll() with no descriptors, "sleep-nanosleep" in
 *     nanosleep(), each for SLEEP_SECONDS in sleep_in_sleep() /
 *     sleep_in_poll() / sleep_in_nanosleep(). A signal handler that ran while
 *     they sleep would cut the sleep short (EINTR, or sleep() returning the
 *     seconds left); each checks its call's result and the time that really
 *     passed and prints `<name>: ok` or `<name>: EARLY ...`;
 *   - 1 thread "no-signals", created by create_blocker(), with every signal
 *     blocked by a raw rt_sigprocmask system call (as code that bypasses the
 *     C library does: the agent cannot keep its signal out of that mask),
 *     waiting in read() on a pipe in wait_without_signals();
 *   - 2 threads created by create_short_lived(), which end (and are joined)
 *     before `ready`: they must not be in the threadcreate profile.
 * Prints `ready` once all are in place; after the sleepers are done it
 * prints `sleepers done`, releases everyone, joins them and prints `bye`. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_release = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_arrived = PTHREAD_COND_INITIALIZER;
static int g_released = 0, g_waiting = 0;
static int g_sleep_seconds = 10;
static int g_blocker_pipe[2];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void arrive_and_wait(void) {
  pthread_mutex_lock(&g_mutex);
  g_waiting++;
  pthread_cond_broadcast(&g_arrived);
  while (!g_released) pthread_cond_wait(&g_release, &g_mutex);
  pthread_mutex_unlock(&g_mutex);
}

// Distinct bodies, so that the compiler cannot fold them into one function.
static volatile int g_woken_a, g_woken_b;
NOINLINE static void wait_here_a(void) { arrive_and_wait(); g_woken_a = 1; }
NOINLINE static void wait_here_b(void) { arrive_and_wait(); g_woken_b = 2; }

static void* waiter_a(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "waiter-a");
  wait_here_a();
  return NULL;
}

static void* waiter_b(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "waiter-b");
  wait_here_b();
  return NULL;
}

static void report(const char* name, double started, int early, const char* detail) {
  double slept = now_s() - started;
  // Never less than asked for (with a little slack for clock granularity).
  if (early || slept < g_sleep_seconds - 0.01)
    printf("%s: EARLY after %.3f s (%s)\n", name, slept, detail);
  else
    printf("%s: ok\n", name);
  fflush(stdout);
}

NOINLINE static void sleep_in_sleep(void) {
  double t0 = now_s();
  unsigned left = sleep((unsigned)g_sleep_seconds);
  char detail[64];
  snprintf(detail, sizeof detail, "sleep returned %u", left);
  report("sleep-sleep", t0, left != 0, detail);
}

NOINLINE static void sleep_in_poll(void) {
  double t0 = now_s();
  int rc = poll(NULL, 0, g_sleep_seconds * 1000);
  char detail[64];
  snprintf(detail, sizeof detail, "poll returned %d, %s", rc, rc < 0 ? strerror(errno) : "-");
  report("sleep-poll", t0, rc != 0, detail);
}

NOINLINE static void sleep_in_nanosleep(void) {
  double t0 = now_s();
  struct timespec d = {g_sleep_seconds, 0};
  int rc = nanosleep(&d, NULL);
  char detail[64];
  snprintf(detail, sizeof detail, "nanosleep returned %d, %s", rc, rc < 0 ? strerror(errno) : "-");
  report("sleep-nanosleep", t0, rc != 0, detail);
}

static void* sleeper(void* arg) {
  int which = (int)(long)arg;
  static const char* names[] = {"sleep-sleep", "sleep-poll", "sleep-nanosleep"};
  pthread_setname_np(pthread_self(), names[which]);
  pthread_mutex_lock(&g_mutex);
  g_waiting++;
  pthread_cond_broadcast(&g_arrived);
  pthread_mutex_unlock(&g_mutex);
  if (which == 0) sleep_in_sleep();
  else if (which == 1) sleep_in_poll();
  else sleep_in_nanosleep();
  return NULL;
}

NOINLINE static void wait_without_signals(void) {
  char byte;
  while (read(g_blocker_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  NO_TAIL_CALL();
}

static void* blocker(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "no-signals");
  uint64_t all = ~(uint64_t)0;
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, sizeof all);
  pthread_mutex_lock(&g_mutex);
  g_waiting++;
  pthread_cond_broadcast(&g_arrived);
  pthread_mutex_unlock(&g_mutex);
  wait_without_signals();
  return NULL;
}

static void* short_lived(void* arg) { return arg; }

static void start(pthread_t* t, void* (*fn)(void*), void* arg) {
  int rc = pthread_create(t, NULL, fn, arg);
  if (rc != 0) {
    fprintf(stderr, "pthread_create: %s\n", strerror(rc));
    exit(1);
  }
}

static pthread_t g_a[3], g_b[2], g_sleepers[3], g_blocker;

NOINLINE static void create_waiters_a(void) {
  for (int i = 0; i < 3; i++) start(&g_a[i], waiter_a, NULL);
  NO_TAIL_CALL();
}

NOINLINE static void create_waiters_b(void) {
  for (int i = 0; i < 2; i++) start(&g_b[i], waiter_b, NULL);
  NO_TAIL_CALL();
}

NOINLINE static void create_sleepers(void) {
  for (long i = 0; i < 3; i++) start(&g_sleepers[i], sleeper, (void*)i);
  NO_TAIL_CALL();
}

NOINLINE static void create_blocker(void) {
  start(&g_blocker, blocker, NULL);
  NO_TAIL_CALL();
}

NOINLINE static void create_short_lived(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) start(&t[i], short_lived, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  NO_TAIL_CALL();
}

int main(int argc, char** argv) {
  if (argc > 1) g_sleep_seconds = atoi(argv[1]);
  if (pipe(g_blocker_pipe) != 0) return 1;
  create_short_lived();
  create_waiters_a();
  create_waiters_b();
  create_blocker();
  create_sleepers();
  pthread_mutex_lock(&g_mutex);
  while (g_waiting < 3 + 2 + 1 + 3) pthread_cond_wait(&g_arrived, &g_mutex);
  pthread_mutex_unlock(&g_mutex);
  printf("ready\n");
  fflush(stdout);

  for (int i = 0; i < 3; i++) pthread_join(g_sleepers[i], NULL);
  printf("sleepers done\n");
  fflush(stdout);
  pthread_mutex_lock(&g_mutex);
  g_released = 1;
  pthread_cond_broadcast(&g_release);
  pthread_mutex_unlock(&g_mutex);
  for (int i = 0; i < 3; i++) pthread_join(g_a[i], NULL);
  for (int i = 0; i < 2; i++) pthread_join(g_b[i], NULL);
  if (write(g_blocker_pipe[1], "x", 1) != 1) return 1;
  pthread_join(g_blocker, NULL);
  printf("bye\n");
  return 0;
}
