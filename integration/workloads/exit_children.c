/* exit_children MODE: children that end without exit(), the ways programs
 * make them. Prints "child <pid>" for each child and "parent <pid>".
 *   vfork        vfork(); the child _exit(7)s at once (shares the parent's
 *                memory: the agent must not write from it)
 *   exec-fails   fork(); the child's exec fails and it _exit(127)s
 *   posix-spawn  posix_spawn of /bin/true (clone with CLONE_VFORK)
 * The parent burns CPU in parent_work and returns 0 if each child ended as
 * expected. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burnlib.h"

extern char** environ;
static volatile unsigned long sink;

__attribute__((noinline, noclone)) void parent_work(void) {
  burn_thread_cpu(100ull * 1000 * 1000, &sink);
  sink++;
}

static int expect_exit(pid_t pid, int want) {
  int status;
  if (waitpid(pid, &status, 0) != pid) return 0;
  return WIFEXITED(status) && WEXITSTATUS(status) == want;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* mode = argv[1];
  parent_work();
  pid_t child;
  int want;
  if (strcmp(mode, "vfork") == 0) {
    child = vfork();
    if (child == 0) _exit(7);
    want = 7;
  } else if (strcmp(mode, "exec-fails") == 0) {
    child = fork();
    if (child == 0) {
      char* args[] = {"/nonexistent/program", NULL};
      execv(args[0], args);
      _exit(127);
    }
    want = 127;
  } else if (strcmp(mode, "posix-spawn") == 0) {
    char* args[] = {"true", NULL};
    if (posix_spawn(&child, "/bin/true", NULL, NULL, args, environ) != 0) return 3;
    want = 0;
  } else {
    return 2;
  }
  if (child < 0) return 3;
  int ok = expect_exit(child, want);
  parent_work();
  printf("child %d\nparent %d\n", (int)child, (int)getpid());
  return ok ? 0 : 1;
}
