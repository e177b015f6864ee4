/* An LD_PRELOAD library listed before the agent: its constructor installs a
 * SIGPROF handler before the agent's constructor runs, as a profiler or
 * runtime loaded first would. The handler counts timer ticks (SI_KERNEL, from
 * setitimer) and anything else separately; sigprof_user reads both counters. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

volatile sig_atomic_t sigprof_preload_ticks, sigprof_preload_foreign;

static void on_prof(int signo, siginfo_t *info, void *context) {
  (void)signo;
  (void)context;
  if (info->si_code == SI_KERNEL) sigprof_preload_ticks++;
  else sigprof_preload_foreign++;
}

__attribute__((constructor)) static void sigprof_preload_init(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_prof;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGPROF, &action, NULL);
}
