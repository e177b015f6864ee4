/* Issue 6 point 4: a program that does known work and then ends by a fatal
 * signal, or runs until it is killed.
 *
 *   crash_kinds MODE [CPU_MS]
 *
 * First burn_before_crash() burns CPU_MS ms of thread CPU time (default 600)
 * and keep_before_crash() keeps 8 MiB of heap; "ready" is printed. Then MODE:
 *   segv   store through a null pointer          (SIGSEGV, a fault)
 *   bus    touch an mmap of a truncated file     (SIGBUS, a fault)
 *   fpe    integer division by zero              (SIGFPE, a fault)
 *   ill    an undefined instruction               (SIGILL, a fault)
 *   abort  abort()                               (SIGABRT, sent to itself)
 *   kill   kill(getpid(), SIGSEGV)               (SIGSEGV, sent, not a fault)
 *   exit   exit(3)                               (no signal)
 *   forever  burn CPU in burn_before_crash until killed, printing "tick N"
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "burnlib.h"

static volatile uint64_t g_sink;
static void* volatile g_kept[128];

__attribute__((noinline)) void burn_before_crash(uint64_t ms) {
  uint64_t end = thread_cpu_ns() + ms * 1000000ull, s = 88172645463325252ull;
  while (thread_cpu_ns() < end)
    for (int i = 0; i < 1000; i++) g_sink += xorshift64(&s);
  __asm__ volatile("" ::: "memory");  /* keep the frame: no tail call */
}

__attribute__((noinline)) void keep_before_crash(void) {
  for (int i = 0; i < 128; i++) {
    g_kept[i] = malloc(64 * 1024);
    memset(g_kept[i], i, 64 * 1024);
  }
  __asm__ volatile("" ::: "memory");
}

static void crash_by_bus(void) {
  char path[] = "/tmp/crash_kinds_bus.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || ftruncate(fd, 8192) != 0) { perror("bus setup"); exit(90); }
  volatile char* p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(91); }
  unlink(path);
  if (ftruncate(fd, 0) != 0) { perror("ftruncate"); exit(92); }
  p[4096] = 1;  /* beyond the end of the file now */
}

int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: crash_kinds MODE [CPU_MS]\n"); return 2; }
  const char* mode = argv[1];
  uint64_t ms = argc > 2 ? strtoull(argv[2], NULL, 10) : 600;
  keep_before_crash();
  burn_before_crash(ms);
  printf("ready\n");
  fflush(stdout);
  if (strcmp(mode, "segv") == 0) {
    volatile int* volatile null_pointer = NULL;
    *null_pointer = 1;
  } else if (strcmp(mode, "bus") == 0) {
    crash_by_bus();
  } else if (strcmp(mode, "fpe") == 0) {
    volatile int dividend = 1, zero = 0;  /* both unknown to the compiler */
    g_sink = (uint64_t)(dividend / zero);
  } else if (strcmp(mode, "ill") == 0) {
    __builtin_trap();
  } else if (strcmp(mode, "abort") == 0) {
    abort();
  } else if (strcmp(mode, "kill") == 0) {
    kill(getpid(), SIGSEGV);
  } else if (strcmp(mode, "exit") == 0) {
    exit(3);
  } else if (strcmp(mode, "forever") == 0) {
    for (unsigned long tick = 1;; tick++) {
      burn_before_crash(100);
      printf("tick %lu\n", tick);
      fflush(stdout);
    }
  }
  fprintf(stderr, "crash_kinds: mode %s did not end the program\n", mode);
  return 1;
}
