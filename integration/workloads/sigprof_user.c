/* sigprof_user MODE
 *
 * A program that uses SIGPROF or the dump signal (SIGUSR2) itself, so that
 * runs with and without the agent can be compared line by line. Every mode
 * first burns ~300 ms of CPU (the agent samples it, if it may), then:
 *   after-sigaction  installs a SIGPROF handler with sigaction, arms
 *                    setitimer(ITIMER_PROF, 5 ms) and counts 40 ticks;
 *   after-signal     the same through signal();
 *   before           the handler was installed by sigprof_preload.so's
 *                    constructor, before the agent's: arms the timer and
 *                    counts 40 ticks in that library's counter;
 *   dump-signal      installs a SIGUSR2 handler with sigaction, sends itself
 *                    SIGUSR2 five times and counts them;
 *   query            prints the dispositions it finds (SIGINT, SIGTERM,
 *                    SIGHUP, SIGPROF, SIGUSR2), then sets SIG_DFL on each.
 * Prints the disposition sigaction reported as the old one, the count, and
 * how many signals were not the program's own (si_code other than SI_KERNEL
 * for the timer, SI_USER for kill): always 0 when the program is unharmed.
 *
 * With SIGPROF_USER_SIGNAL=N in the environment the program uses signal N
 * (the agent's CPU signal, say) instead of SIGPROF, and a POSIX timer on the
 * process's CPU clock (si_code SI_TIMER) instead of setitimer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "burnlib.h"

static volatile sig_atomic_t ticks, foreign;
static int prof_signal = SIGPROF;
static int own_code = SI_KERNEL;  /* the si_code of the program's own timer signals */
static timer_t posix_timer;
static volatile uint64_t sink;

__attribute__((noinline, noclone)) void user_burn(uint64_t ns) {
  uint64_t start = thread_cpu_ns();
  uint64_t x = sink | 1;
  while (thread_cpu_ns() - start < ns)
    for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  sink = x;
}

static void on_prof_info(int signo, siginfo_t *info, void *context) {
  (void)signo;
  (void)context;
  if (info->si_code == own_code) ticks++;
  else foreign++;
}

static void on_prof_plain(int signo) {
  (void)signo;
  ticks++;
}

static void on_usr2(int signo, siginfo_t *info, void *context) {
  (void)signo;
  (void)context;
  if (info->si_code == SI_USER && info->si_pid == getpid()) ticks++;
  else foreign++;
}

static const char *describe(const struct sigaction *a) {
  if (!(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL) return "default";
  if (!(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_IGN) return "ignored";
  return "handler";
}

static void arm_prof_timer(int on) {
  struct itimerval t;
  memset(&t, 0, sizeof t);
  if (on) t.it_interval.tv_usec = t.it_value.tv_usec = 5000;
  if (prof_signal != SIGPROF) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_interval.tv_nsec = spec.it_value.tv_nsec = t.it_value.tv_usec * 1000;
    if (timer_settime(posix_timer, 0, &spec, NULL) != 0) {
      perror("timer_settime");
      exit(3);
    }
    return;
  }
  if (setitimer(ITIMER_PROF, &t, NULL) != 0) {
    perror("setitimer");
    exit(3);
  }
}

__attribute__((noinline, noclone)) static void count_ticks(volatile sig_atomic_t *counter, int want) {
  arm_prof_timer(1);
  while (*counter < want) user_burn(1000000);
  arm_prof_timer(0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: sigprof_user MODE\n");
    return 2;
  }
  const char *mode = argv[1];
  const char *own_signal = getenv("SIGPROF_USER_SIGNAL");
  if (own_signal != NULL) {
    prof_signal = atoi(own_signal);
    own_code = SI_TIMER;
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_SIGNAL;
    event.sigev_signo = prof_signal;
    if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &event, &posix_timer) != 0) {
      perror("timer_create");
      return 3;
    }
  }
  user_burn(300000000);
  struct sigaction action, old;
  memset(&action, 0, sizeof action);
  sigemptyset(&action.sa_mask);
  if (strcmp(mode, "after-sigaction") == 0) {
    action.sa_sigaction = on_prof_info;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(prof_signal, &action, &old) != 0) return 3;
    count_ticks(&ticks, 40);
    printf("old=%s ticks>=40 foreign=%d\n", describe(&old), (int)foreign);
  } else if (strcmp(mode, "after-signal") == 0) {
    sighandler_t previous = signal(prof_signal, on_prof_plain);
    count_ticks(&ticks, 40);
    printf("old=%s ticks>=40\n", previous == SIG_DFL ? "default" : "other");
  } else if (strcmp(mode, "before") == 0) {
    volatile sig_atomic_t *counter = dlsym(RTLD_DEFAULT, "sigprof_preload_ticks");
    volatile sig_atomic_t *others = dlsym(RTLD_DEFAULT, "sigprof_preload_foreign");
    if (counter == NULL || others == NULL) {
      fprintf(stderr, "sigprof_preload.so is not loaded\n");
      return 3;
    }
    sigaction(prof_signal, NULL, &old);
    count_ticks(counter, 40);
    printf("installed=%s ticks>=40 foreign=%d\n", describe(&old), (int)*others);
  } else if (strcmp(mode, "dump-signal") == 0) {
    action.sa_sigaction = on_usr2;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGUSR2, &action, &old) != 0) return 3;
    for (int i = 0; i < 5; i++) {
      kill(getpid(), SIGUSR2);  /* delivered before kill returns (not blocked) */
      user_burn(20000000);
    }
    printf("old=%s usr2=%d foreign=%d\n", describe(&old), (int)ticks, (int)foreign);
  } else if (strcmp(mode, "query") == 0) {
    const int signals[] = {SIGINT, SIGTERM, SIGHUP, prof_signal, SIGUSR2};
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++) {
      sigaction(signals[i], NULL, &old);
      sighandler_t previous = signal(signals[i], SIG_DFL);
      printf("%s: %s, signal() returned %s\n", strsignal(signals[i]), describe(&old),
             previous == SIG_DFL ? "default" : "other");
    }
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
