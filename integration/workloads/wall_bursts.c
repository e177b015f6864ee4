// Threads that run in short bursts between sleeps (test_wall_profile.py):
// THREADS threads for SECONDS, each spinning 50 us and then sleeping 1 ms in
// clock_nanosleep, again and again, so that the wall sampler often finds
// them running just before they enter the sleep. Prints how many sleeps
// there were and how many returned EINTR (a request for a stack that landed
// as the thread entered its sleep); exit status 1 if any did.
//
// With a third argument SIGNAL (a number), the bursters block that signal, as
// a program keeps signals it handles away from its workers: a signal sent to
// the process (a dump's kill) then goes to the main thread, and only what the
// agent sends a thread itself can reach a burster.
//
// Usage: wall_bursts THREADS SECONDS [SIGNAL]
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double g_seconds;
static int g_blocked_signal;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct counts {
  long sleeps, interrupted;
};

static void* burster(void* arg) {
  struct counts* c = arg;
  if (g_blocked_signal > 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, g_blocked_signal);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  }
  const double end = now() + g_seconds;
  while (now() < end) {
    const double burst_end = now() + 50e-6;
    while (now() < burst_end) {
    }
    struct timespec pause = {0, 1000000};
    if (clock_nanosleep(CLOCK_MONOTONIC, 0, &pause, NULL) == EINTR) c->interrupted++;
    c->sleeps++;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: wall_bursts THREADS SECONDS [SIGNAL]\n");
    return 2;
  }
  if (argc == 4) g_blocked_signal = atoi(argv[3]);
  const int n = atoi(argv[1]);
  g_seconds = atof(argv[2]);
  pthread_t* threads = calloc((size_t)n, sizeof *threads);
  struct counts* counts = calloc((size_t)n, sizeof *counts);
  for (int i = 0; i < n; i++)
    if (pthread_create(&threads[i], NULL, burster, &counts[i]) != 0) return 3;
  long sleeps = 0, interrupted = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(threads[i], NULL);
    sleeps += counts[i].sleeps;
    interrupted += counts[i].interrupted;
  }
  printf("sleeps=%ld eintr=%ld\n", sleeps, interrupted);
  return interrupted == 0 ? 0 : 1;
}
