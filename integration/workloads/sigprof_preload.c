/* An LD_PRELOAD library listed before the agent: its constructor installs a
 * SIGPROF handler before the agent's constructor runs, as a profiler or
 * runtime loaded first would. The handler counts timer ticks (SI_KERNEL, from
 * setitimer) and anything else separately; sigprof_user reads both counters.
 * With SIGPROF_USER_SIGNAL=N it handles signal N instead, whose ticks come
 * from a POSIX timer (SI_TIMER). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t sigprof_preload_ticks, sigprof_preload_foreign;
static int own_code = SI_KERNEL;

static void on_prof(int signo, siginfo_t *info, void *context) {
  (void)signo;
  (void)context;
  if (info->si_code == own_code) sigprof_preload_ticks++;
  else sigprof_preload_foreign++;
}

__attribute__((constructor)) static void sigprof_preload_init(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_prof;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  int signo = SIGPROF;
  const char *own_signal = getenv("SIGPROF_USER_SIGNAL");
  if (own_signal != NULL) {
    signo = atoi(own_signal);
    own_code = SI_TIMER;
  }
  sigaction(signo, &action, NULL);
}
