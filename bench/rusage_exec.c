/* rusage_exec OUT NAME=VALUE... -- PROGRAM ARGS...
 *
 * Runs PROGRAM with the given variables added to its environment, waits for it
 * and writes "<status> <user_us> <sys_us> <maxrss_kib>" to the file OUT.
 *
 * Why not the benchmark's own wait4: a child forked (or vforked) from Python
 * starts with Python's memory, and the kernel's peak RSS of a process keeps
 * what it had before exec, so every small program measured from Python peaks
 * at Python's size (~14 MiB here). Forked from this small program, the figure
 * is the program's own. The variables are set in the child only, so that an
 * LD_PRELOAD meant for PROGRAM is not loaded into this process. CPU is the
 * child's and every descendant's it waited for; peak RSS the largest of them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: rusage_exec OUT [NAME=VALUE...] -- PROGRAM [ARGS...]\n");
    return 2;
  }
  const char* out = argv[1];
  int program = 2;
  while (program < argc && strcmp(argv[program], "--") != 0) program++;
  if (program + 1 >= argc) {
    fprintf(stderr, "rusage_exec: no PROGRAM after --\n");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("rusage_exec: fork");
    return 2;
  }
  if (child == 0) {
    for (int i = 2; i < program; i++) putenv(argv[i]);
    execvp(argv[program + 1], argv + program + 1);
    perror("rusage_exec: exec");
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(child, &status, 0, &ru) != child) {
    perror("rusage_exec: wait4");
    return 2;
  }
  FILE* f = fopen(out, "w");
  if (f == NULL) {
    perror("rusage_exec: open");
    return 2;
  }
  fprintf(f, "%d %ld %ld %ld\n", status, (long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
          (long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss);
  fclose(f);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
