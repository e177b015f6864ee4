/* fork_child: the parent burns 0.3 s in parent_work, forks a child that burns
 * 0.5 s in child_work and exits, then burns 0.2 s more. Prints the child's pid.
 * Each process must get its own profile with only its own samples. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burnlib.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void burn(double seconds) {
  burn_thread_cpu((uint64_t)(seconds * 1e9), &sink);
}

/* The increments after the calls keep them from becoming tail calls, which
 * would take parent_work/child_work off the stack. */
__attribute__((noinline, noclone)) void parent_work(double seconds) { burn(seconds); sink++; }
__attribute__((noinline, noclone)) void child_work(double seconds) { burn(seconds); sink++; }

int main(void) {
  parent_work(0.3);
  pid_t child = fork();
  if (child == 0) {
    child_work(0.5);
    exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  parent_work(0.2);
  printf("child %d\n", (int)child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
