/* daemonize MODE LOG: becomes a daemon the ways servers do, then works under
 * daemon_work/daemon_alloc and ends. LOG is an absolute path; the daemon
 * appends "ready <pid>\n" to it when it has closed every descriptor and
 * "done <pid>\n" just before it ends.
 *   daemon        daemon(0, 0) (fork, the parent _exit()s, setsid, chdir /,
 *                 stdio on /dev/null), then every descriptor closed; exit(0)
 *   daemon-_exit  the same, ending with _exit(0)
 *   setsid-_Exit  fork (the parent returns from main), setsid, chdir /,
 *                 every descriptor closed with close_range; _Exit(0)
 *   wait          as daemon, then waits for signals (pause) until killed */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "burnlib.h"

static volatile unsigned long sink;
static void* volatile kept[32]; /* volatile: never read; the stores (and so the mallocs) must stay */

__attribute__((noinline, noclone)) void daemon_work(void) {
  burn_thread_cpu(200ull * 1000 * 1000, &sink);
  sink++;
}

__attribute__((noinline, noclone)) void daemon_alloc(void) {
  for (int i = 0; i < 32; i++) kept[i] = malloc(256 * 1024);
  sink++;
}

static void note(const char* log, const char* what) {
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[64];
  int len = snprintf(line, sizeof line, "%s %d\n", what, (int)getpid());
  if (write(fd, line, (size_t)len) < 0) sink++;
  close(fd);
}

/* Both ways programs do it: a loop of close() and close_range(). */
static void close_every_descriptor(void) {
  for (int fd = 0; fd < 1024; fd++) close(fd);
  syscall(436 /* SYS_close_range */, 0u, ~0u, 0u);
}

int main(int argc, char** argv) {
  if (argc != 3 || argv[2][0] != '/') {
    fprintf(stderr, "usage: daemonize daemon|daemon-_exit|setsid-_Exit|wait /ABSOLUTE/LOG\n");
    return 2;
  }
  const char* mode = argv[1];
  const char* log = argv[2];
  if (strcmp(mode, "setsid-_Exit") == 0) {
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid > 0) return 0;
    if (setsid() < 0 || chdir("/") != 0) _Exit(4);
    close_every_descriptor();
  } else {
    if (daemon(0, 0) != 0) return 3;
    close_every_descriptor();
  }
  note(log, "ready");
  daemon_alloc();
  daemon_work();
  if (strcmp(mode, "wait") == 0) {
    note(log, "done");
    for (;;) pause();
  }
  note(log, "done");
  if (strcmp(mode, "daemon-_exit") == 0) _exit(0);
  if (strcmp(mode, "setsid-_Exit") == 0) _Exit(0);
  exit(0);
}
