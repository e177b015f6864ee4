/* proc_tree N LOG: a tree of N processes made of fork and exec. Each process
 * appends "<pid>\n" to LOG (O_APPEND: one write, never interleaved), burns
 * 100 ms of CPU in tree_work (the kernel checks CPU timers at its tick: 30 ms
 * left some processes without a sample on a loaded machine) and allocates in
 * tree_alloc, then shares its N-1 descendants among up to three children:
 * children 0 and 2 fork and exec this program again (via /proc/self/exe, argv[0] "proc_tree"); child 1
 * forks without exec, builds its subtree in place and ends with _exit. Exit
 * status 0 when every process in the tree succeeded. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burnlib.h"

static volatile unsigned long sink;
static void* volatile kept[16]; /* volatile: never read; the stores (and so the mallocs) must stay */

__attribute__((noinline, noclone)) void tree_work(void) {
  burn_thread_cpu(100ull * 1000 * 1000, &sink);
  sink++;
}

__attribute__((noinline, noclone)) void tree_alloc(void) {
  for (int i = 0; i < 16; i++) kept[i] = malloc(64 * 1024);
  sink++;
}

static int tree(long n, const char* log);

static pid_t start_child(int index, long n, const char* log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (index == 1) _exit(tree(n, log));
  char count[32];
  snprintf(count, sizeof count, "%ld", n);
  char* argv[] = {"proc_tree", count, (char*)log, NULL};
  execv("/proc/self/exe", argv);
  _exit(126);
}

static int tree(long n, const char* log) {
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 3;
  char line[32];
  int len = snprintf(line, sizeof line, "%d\n", (int)getpid());
  if (write(fd, line, (size_t)len) != len) return 3;
  close(fd);
  tree_work();
  tree_alloc();
  long rest = n - 1;
  pid_t children[3];
  int started = 0;
  for (int i = 0; i < 3 && rest > 0; i++) {
    long share = (rest + (2 - i)) / (3 - i);  /* split what is left evenly */
    if (share <= 0) continue;
    rest -= share;
    children[started] = start_child(i, share, log);
    if (children[started] < 0) return 4;
    started++;
  }
  int result = 0;
  for (int i = 0; i < started; i++) {
    int status;
    if (waitpid(children[i], &status, 0) != children[i] || !WIFEXITED(status) || WEXITSTATUS(status))
      result = 5;
  }
  return result;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: proc_tree N LOG\n");
    return 2;
  }
  return tree(atol(argv[1]), argv[2]);
}
