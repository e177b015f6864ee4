/* many_stacks SECONDS
 *
 * Burns SECONDS of CPU spread over 1024 distinct call stacks: a recursion ten
 * levels deep that goes through go_left or go_right at each level according to
 * the bits of a counter. Used to fill a small sample store on purpose. Prints
 * the process CPU time at the end of main (what the profiler could sample). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "burnlib.h"

static volatile unsigned long sink;

__attribute__((noinline)) static void leaf(void) {
  unsigned long x = sink;
  for (int i = 0; i < 100000; i++) x = x * 6364136223846793005ul + 1;
  sink = x;
}

static void branch(int depth, unsigned bits);

/* The increments keep the calls from becoming tail calls (which would merge
 * the two paths). */
__attribute__((noinline)) static void go_left(int depth, unsigned bits) { branch(depth, bits); sink++; }
__attribute__((noinline)) static void go_right(int depth, unsigned bits) { branch(depth, bits); sink++; }

__attribute__((noinline)) static void branch(int depth, unsigned bits) {
  if (depth == 0) {
    leaf();
    return;
  }
  if (bits & 1) go_left(depth - 1, bits >> 1);
  else go_right(depth - 1, bits >> 1);
  sink++;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  uint64_t start = thread_cpu_ns();
  for (unsigned n = 0; thread_cpu_ns() - start < (uint64_t)(seconds * 1e9); n++) branch(10, n & 1023);
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  printf("process_cpu_ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  return 0;
}
