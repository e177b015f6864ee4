/* Issue 6 point 4 (wake-up without descriptors): a program that closes every
 * file descriptor, as daemons do, then opens files of its own (which get the
 * lowest numbers, those the agent's descriptors had), asks for a dump and
 * writes known lines to its files.
 *
 *   fd_closer DIR
 *
 * Closes every descriptor (close_range, then a loop for kernels without it),
 * opens DIR/own.0 .. DIR/own.15, keeps 8 MiB in keep_after_close(), creates
 * DIR/ready and waits (up to 60 s) for DIR/go, which the test creates after
 * its dump signal has produced a dump. Then writes "line <i> of own.<n>\n"
 * ten times to each file and exits 0; any failure exits non-zero (stdout and
 * stderr are closed, so DIR/error gets the reason). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { kFiles = 16 };
static void* volatile g_kept[128];

static void fail(const char* dir, const char* why) {
  char path[4096];
  snprintf(path, sizeof path, "%s/error", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t ignored = write(fd, why, strlen(why));
    (void)ignored;
    close(fd);
  }
  _exit(1);
}

__attribute__((noinline)) void keep_after_close(void) {
  for (int i = 0; i < 128; i++) {
    g_kept[i] = malloc(64 * 1024);
    memset(g_kept[i], i, 64 * 1024);
  }
  __asm__ volatile("" ::: "memory");
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* dir = argv[1];
  syscall(SYS_close_range, 0u, ~0u, 0u);
  struct rlimit limit;
  long max_fd = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536 ? (long)limit.rlim_cur : 65536;
  for (long fd = 0; fd < max_fd; fd++) close((int)fd);

  int fds[kFiles];
  char path[4096];
  for (int i = 0; i < kFiles; i++) {
    snprintf(path, sizeof path, "%s/own.%d", dir, i);
    fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fds[i] < 0) fail(dir, "cannot open own file\n");
  }
  keep_after_close();

  snprintf(path, sizeof path, "%s/ready", dir);
  int ready = open(path, O_WRONLY | O_CREAT, 0644);
  if (ready < 0) fail(dir, "cannot create ready\n");
  close(ready);

  snprintf(path, sizeof path, "%s/go", dir);
  for (int waited = 0; access(path, F_OK) != 0; waited++) {
    if (waited > 6000) fail(dir, "no go file within 60 s\n");
    usleep(10000);
  }
  for (int i = 0; i < kFiles; i++) {
    for (int line = 0; line < 10; line++) {
      char text[64];
      int n = snprintf(text, sizeof text, "line %d of own.%d\n", line, i);
      if (write(fds[i], text, (size_t)n) != n) fail(dir, "short write\n");
    }
    if (close(fds[i]) != 0) fail(dir, "close failed\n");
  }
  return 0;
}
