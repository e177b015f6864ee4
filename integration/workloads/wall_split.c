// Wall time with a known split (test_wall_profile.py): besides the main
// thread, one thread per way of spending time, each in a function of its
// own for SECONDS: burning CPU (wall_burn), asleep (wall_sleep), reading a
// pipe (wall_read_pipe), blocked on a mutex (wall_lock_mutex), in epoll_wait
// (wall_epoll_wait) and on a condition variable (wall_cond_wait). The main
// thread holds the mutex, then after SECONDS releases it and wakes the
// readers. Each thread checks that its call returned correctly and not with
// EINTR, and prints one line: its name, how long it lived, how long it spent
// in its function, and ok or what went wrong. Exit status 0 if all are ok.
//
// Usage: wall_split SECONDS
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static double g_seconds;
static int g_pipe[2];
static int g_epoll, g_event;
static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_cond_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_cond_ready;
static volatile double g_sink;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct result {
  char verdict[160];
  double activity;  // seconds in the thread's function
};

// The functions the profile must show, each for about SECONDS. Not static
// and never inlined, and no tail calls (the empty asm after each call), so
// that each is a frame with its own name.
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")
__attribute__((noinline)) void wall_burn(double seconds) {
  const double end = now() + seconds;
  while (now() < end)
    for (int i = 0; i < 20000; i++) g_sink += i * 0.5;
}

__attribute__((noinline)) int wall_sleep(double seconds) {
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  const int rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);  // an error number, not -1
  KEEP_FRAME();
  return rc;
}

__attribute__((noinline)) ssize_t wall_read_pipe(char* c) {
  const ssize_t n = read(g_pipe[0], c, 1);
  KEEP_FRAME();
  return n;
}

__attribute__((noinline)) int wall_lock_mutex(void) {
  const int rc = pthread_mutex_lock(&g_held);
  KEEP_FRAME();
  return rc;
}

__attribute__((noinline)) int wall_epoll_wait(struct epoll_event* event) {
  const int n = epoll_wait(g_epoll, event, 1, -1);
  KEEP_FRAME();
  return n;
}

// Returns how many times pthread_cond_wait returned: 1 unless woken for
// nothing.
__attribute__((noinline)) int wall_cond_wait(int* error) {
  int wakeups = 0;
  pthread_mutex_lock(&g_cond_mutex);
  while (!g_cond_ready) {
    *error = pthread_cond_wait(&g_cond, &g_cond_mutex);
    wakeups++;
    if (*error != 0) break;
  }
  pthread_mutex_unlock(&g_cond_mutex);
  return wakeups;
}

static void* burner(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "burner");
  const double t0 = now();
  wall_burn(g_seconds);
  r->activity = now() - t0;
  snprintf(r->verdict, sizeof r->verdict, "ok");
  return NULL;
}

static void* sleeper(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "sleeper");
  const double t0 = now();
  const int rc = wall_sleep(g_seconds);
  r->activity = now() - t0;
  if (rc != 0)
    snprintf(r->verdict, sizeof r->verdict, "clock_nanosleep returned %s", strerror(rc));
  else if (r->activity < g_seconds - 0.001)
    snprintf(r->verdict, sizeof r->verdict, "clock_nanosleep returned early, after %.3f s",
             r->activity);
  else
    snprintf(r->verdict, sizeof r->verdict, "ok");
  return NULL;
}

static void* piper(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "piper");
  const double t0 = now();
  char c = 0;
  const ssize_t n = wall_read_pipe(&c);
  r->activity = now() - t0;
  if (n != 1 || c != 'x')
    snprintf(r->verdict, sizeof r->verdict, "read returned %zd (%s), byte %d", n,
             n < 0 ? strerror(errno) : "no error", c);
  else
    snprintf(r->verdict, sizeof r->verdict, "ok");
  return NULL;
}

static void* locker(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "locker");
  const double t0 = now();
  const int rc = wall_lock_mutex();
  r->activity = now() - t0;
  if (rc == 0) pthread_mutex_unlock(&g_held);
  snprintf(r->verdict, sizeof r->verdict, rc == 0 ? "ok" : "pthread_mutex_lock returned %s",
           strerror(rc));
  return NULL;
}

static void* poller(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "poller");
  const double t0 = now();
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  const int n = wall_epoll_wait(&event);
  r->activity = now() - t0;
  if (n != 1 || !(event.events & EPOLLIN))
    snprintf(r->verdict, sizeof r->verdict, "epoll_wait returned %d (%s)", n,
             n < 0 ? strerror(errno) : "no error");
  else
    snprintf(r->verdict, sizeof r->verdict, "ok");
  return NULL;
}

static void* waiter(void* arg) {
  struct result* r = arg;
  pthread_setname_np(pthread_self(), "waiter");
  const double t0 = now();
  int error = 0;
  const int wakeups = wall_cond_wait(&error);
  r->activity = now() - t0;
  if (error != 0 || wakeups != 1)
    snprintf(r->verdict, sizeof r->verdict, "pthread_cond_wait returned %s, woke %d times",
             strerror(error), wakeups);
  else
    snprintf(r->verdict, sizeof r->verdict, "ok");
  return NULL;
}

// The main thread's own wait, until SECONDS after `start`.
__attribute__((noinline)) void wall_main_wait(double start) {
  const double end = start + g_seconds;
  struct timespec ts = {(time_t)end, (long)((end - (time_t)end) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

int main(int argc, char** argv) {
  if (argc != 2 || (g_seconds = atof(argv[1])) <= 0) {
    fprintf(stderr, "usage: wall_split SECONDS\n");
    return 2;
  }
  if (pipe(g_pipe) != 0) return 3;
  g_event = eventfd(0, 0);
  g_epoll = epoll_create1(0);
  struct epoll_event want = {.events = EPOLLIN};
  if (g_event < 0 || g_epoll < 0 || epoll_ctl(g_epoll, EPOLL_CTL_ADD, g_event, &want) != 0)
    return 3;

  static const struct {
    const char* name;
    void* (*run)(void*);
  } kinds[] = {{"burner", burner}, {"sleeper", sleeper}, {"piper", piper},
               {"locker", locker}, {"poller", poller},   {"waiter", waiter}};
  enum { N = sizeof kinds / sizeof kinds[0] };
  struct result results[N];
  pthread_t threads[N];
  double started[N], ended[N];
  memset(results, 0, sizeof results);

  pthread_mutex_lock(&g_held);
  const double start = now();
  for (int i = 0; i < N; i++) {
    started[i] = now();
    if (pthread_create(&threads[i], NULL, kinds[i].run, &results[i]) != 0) return 4;
  }
  wall_main_wait(start);
  pthread_mutex_unlock(&g_held);
  if (write(g_pipe[1], "x", 1) != 1) return 5;
  const uint64_t one = 1;
  if (write(g_event, &one, sizeof one) != sizeof one) return 5;
  pthread_mutex_lock(&g_cond_mutex);
  g_cond_ready = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_cond_mutex);

  int failed = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    ended[i] = now();
  }
  for (int i = 0; i < N; i++) {
    // Lifetime as seen from main: from pthread_create to a join that found
    // it ended (joined in order, so an upper bound).
    printf("thread %s lifetime=%.3f activity=%.3f %s\n", kinds[i].name, ended[i] - started[i],
           results[i].activity, results[i].verdict);
    if (strcmp(results[i].verdict, "ok") != 0) failed = 1;
  }
  printf("main elapsed=%.3f\n", now() - start);
  return failed;
}
