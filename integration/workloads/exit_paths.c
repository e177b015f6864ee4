/* exit_paths MODE [ARGS]
 *
 *   return SECONDS            burn SECONDS of CPU, return 0 from main
 *   exit SECONDS CODE         burn, then exit(CODE) from main
 *   thread-exit SECONDS CODE  a second thread burns, then calls exit(CODE) while
 *                             main is blocked in pthread_join
 *   wait-signal               burn 0.3 s, print "ready", keep burning until a
 *                             signal with default disposition kills the process
 *   handler                   install a SIGTERM handler that writes "handler ran"
 *                             and calls exit(3); burn 0.3 s, print "ready", burn
 *   sigkill SECONDS           burn, then raise(SIGKILL)
 *   atexit-return SECONDS     register an atexit handler, burn, return 0
 *   atexit-exit SECONDS CODE  the same, then exit(CODE)
 *   atexit-quick SECONDS CODE an at_quick_exit handler, burn, quick_exit(CODE)
 *   atexit-last-thread SECONDS  register an atexit handler, start a thread
 *                             "last" that burns, and end main with pthread_exit:
 *                             glibc ends the process when "last" returns
 *
 * The atexit modes' handler prints "handler: profile present" or "handler:
 * profile absent": whether $PPROF_OUTPUT_DIR/exit_paths.<pid>.cpu.pb.gz was
 * already written when the program's own exit handlers ran.
 *
 * The endless modes give up after 60 s of CPU (exit 99) so a lost signal cannot
 * leave a runaway process. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "burnlib.h"

static volatile uint64_t sink;

__attribute__((noinline, noclone)) void burn_exit_path(uint64_t ns) {
  SPIN_THREAD_CPU(ns, sink);
}

static uint64_t thread_seconds;
static int thread_code;

static void *exiting_thread(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "exiter");
  burn_exit_path(thread_seconds);
  exit(thread_code);
}

static void report_profile(void) {
  const char *dir = getenv("PPROF_OUTPUT_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/exit_paths.%d.cpu.pb.gz", dir ? dir : ".", (int)getpid());
  printf("handler: profile %s\n", access(path, F_OK) == 0 ? "present" : "absent");
  fflush(stdout);
}

static void *last_thread(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "last");
  burn_exit_path(thread_seconds);
  return NULL;
}

static void on_term(int sig) {
  (void)sig;
  static const char msg[] = "handler ran\n";
  ssize_t r = write(1, msg, sizeof msg - 1);
  (void)r;
  exit(3);
}

static void ready_then_burn(void) {
  burn_exit_path(300000000ull);
  printf("ready\n");
  fflush(stdout);
  burn_exit_path(60000000000ull);
  exit(99);
}

int main(int argc, char **argv) {
  if (argc < 2) goto usage;
  const char *mode = argv[1];
  if (!strcmp(mode, "return") && argc == 3) {
    burn_exit_path(seconds_arg_ns(argv[2]));
    return 0;
  }
  if (!strcmp(mode, "exit") && argc == 4) {
    burn_exit_path(seconds_arg_ns(argv[2]));
    exit(atoi(argv[3]));
  }
  if (!strcmp(mode, "thread-exit") && argc == 4) {
    thread_seconds = seconds_arg_ns(argv[2]);
    thread_code = atoi(argv[3]);
    pthread_t t;
    pthread_create(&t, NULL, exiting_thread, NULL);
    pthread_join(t, NULL);
    return 98; /* not reached: the thread exits the process */
  }
  if (!strcmp(mode, "wait-signal") && argc == 2) ready_then_burn();
  if (!strcmp(mode, "handler") && argc == 2) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    ready_then_burn();
  }
  if (!strcmp(mode, "sigkill") && argc == 3) {
    burn_exit_path(seconds_arg_ns(argv[2]));
    raise(SIGKILL);
    return 97;
  }
  if (!strcmp(mode, "atexit-return") && argc == 3) {
    atexit(report_profile);
    burn_exit_path(seconds_arg_ns(argv[2]));
    return 0;
  }
  if (!strcmp(mode, "atexit-exit") && argc == 4) {
    atexit(report_profile);
    burn_exit_path(seconds_arg_ns(argv[2]));
    exit(atoi(argv[3]));
  }
  if (!strcmp(mode, "atexit-quick") && argc == 4) {
    at_quick_exit(report_profile);
    burn_exit_path(seconds_arg_ns(argv[2]));
    quick_exit(atoi(argv[3]));
  }
  if (!strcmp(mode, "atexit-last-thread") && argc == 3) {
    atexit(report_profile);
    thread_seconds = seconds_arg_ns(argv[2]);
    pthread_t t;
    pthread_create(&t, NULL, last_thread, NULL);
    pthread_exit(NULL);
  }
usage:
  fprintf(stderr, "usage: exit_paths return|exit|thread-exit|wait-signal|handler|sigkill|"
                  "atexit-return|atexit-exit|atexit-quick|atexit-last-thread ...\n");
  return 2;
}
