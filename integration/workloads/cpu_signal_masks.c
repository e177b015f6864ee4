/* cpu_signal_masks MODE
 *
 * A program that blocks and waits for signals itself, so that runs with and
 * without the agent can be compared line by line (issue 15):
 *   sigwait, sigwaitinfo, sigtimedwait, signalfd
 *       the main thread blocks every signal (sigfillset), which the worker it
 *       then creates inherits; the worker burns ~400 ms of CPU in
 *       masked_burn(), prints how many real-time signals its mask shows
 *       blocked, and sends the process SIGUSR1; the main thread waits for any
 *       signal with the call MODE names (signalfd: reads a signalfd on the
 *       full set) and prints each one it gets until SIGUSR1;
 *   own-rtmax
 *       burns ~300 ms in own_burn(), then uses SIGRTMAX itself: blocks just
 *       that signal, queues it to itself 5 times with a value and takes each
 *       with sigwaitinfo, checking code and value;
 *   fork-exec
 *       burns ~300 ms, blocks every signal, forks, and the child execs grep to
 *       print the SigBlk line of its own /proc status: the mask the exec'd
 *       program inherited, as the kernel has it.
 * Prints only what is the same with and without the agent. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burnlib.h"

static volatile unsigned long sink;

static int rt_blocked(void) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  int n = 0;
  for (int s = SIGRTMIN; s <= SIGRTMAX; s++) n += sigismember(&mask, s) == 1;
  return n;
}

__attribute__((noinline, noclone)) static void masked_burn(void) {
  burn_thread_cpu(400000000, &sink);
}

static void *worker(void *arg) {
  (void)arg;
  masked_burn();
  printf("worker: %d of %d real-time signals blocked\n", rt_blocked(), SIGRTMAX - SIGRTMIN + 1);
  fflush(stdout);
  kill(getpid(), SIGUSR1);
  return NULL;
}

static int wait_one(const char *mode, const sigset_t *set, int fd) {
  if (strcmp(mode, "sigwait") == 0) {
    int sig = 0;
    int rc = sigwait(set, &sig);
    return rc == 0 ? sig : -rc;
  }
  if (strcmp(mode, "sigwaitinfo") == 0) return sigwaitinfo(set, NULL);
  if (strcmp(mode, "sigtimedwait") == 0) {
    struct timespec limit = {60, 0};
    return sigtimedwait(set, NULL, &limit);
  }
  struct signalfd_siginfo info;
  ssize_t n = read(fd, &info, sizeof info);
  return n == (ssize_t)sizeof info ? (int)info.ssi_signo : -1;
}

__attribute__((noinline, noclone)) static void own_burn(void) {
  burn_thread_cpu(300000000, &sink);
}

static int own_rtmax(void) {
  own_burn();
  sigset_t just;
  sigemptyset(&just);
  sigaddset(&just, SIGRTMAX);
  if (pthread_sigmask(SIG_BLOCK, &just, NULL) != 0) return 3;
  int ok = 0, foreign = 0;
  for (int i = 0; i < 5; i++) {
    union sigval value = {.sival_int = 100 + i};
    if (sigqueue(getpid(), SIGRTMAX, value) != 0) return 3;
    siginfo_t info;
    if (sigwaitinfo(&just, &info) != SIGRTMAX) return 3;
    if (info.si_code == SI_QUEUE && info.si_value.sival_int == 100 + i && info.si_pid == getpid())
      ok++;
    else
      foreign++;
  }
  printf("own-rtmax: %d ok, foreign=%d, %d real-time signal(s) blocked\n", ok, foreign,
         rt_blocked());
  return 0;
}

static int fork_exec(void) {
  own_burn();
  sigset_t all;
  sigfillset(&all);
  if (pthread_sigmask(SIG_BLOCK, &all, NULL) != 0) return 3;
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 3;
  if (child == 0) {
    execl("/bin/grep", "grep", "^SigBlk", "/proc/self/status", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child) return 3;
  printf("child status %d\n", status);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: cpu_signal_masks MODE\n");
    return 2;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "own-rtmax") == 0) return own_rtmax();
  if (strcmp(mode, "fork-exec") == 0) return fork_exec();
  if (strcmp(mode, "sigwait") != 0 && strcmp(mode, "sigwaitinfo") != 0 &&
      strcmp(mode, "sigtimedwait") != 0 && strcmp(mode, "signalfd") != 0) {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  sigset_t all, old;
  sigfillset(&all);
  if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0) return 3;
  printf("main: %d real-time signals blocked before, %d after\n",
         (int)(sigismember(&old, SIGRTMAX) == 1), rt_blocked());
  int fd = -1;
  if (strcmp(mode, "signalfd") == 0 && (fd = signalfd(-1, &all, 0)) < 0) {
    perror("signalfd");
    return 3;
  }
  fflush(stdout);
  pthread_t thread;
  if (pthread_create(&thread, NULL, worker, NULL) != 0) return 3;
  for (;;) {
    int sig = wait_one(mode, &all, fd);
    if (sig < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    printf("main: %s got %d\n", mode, sig);
    if (sig == SIGUSR1 || sig < 0) break;
  }
  pthread_join(thread, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  printf("main: %d real-time signals blocked at the end\n", rt_blocked());
  return 0;
}
