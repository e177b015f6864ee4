/* libc_sort SECONDS
 *
 * Sorts arrays with libc's qsort for about SECONDS of CPU, so that most samples
 * land inside libc (msort_with_tmp) and the comparison callback. Used to check
 * that libc frames get file and line from Debian's separate debug files
 * (libc6-dbg, found under /usr/lib/debug/.build-id). */
#include <stdlib.h>

#include "burnlib.h"

static int compare_ints(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  static int values[100000];
  uint64_t start = thread_cpu_ns();
  unsigned seed = 1;
  while (thread_cpu_ns() - start < (uint64_t)(seconds * 1e9)) {
    for (int i = 0; i < 100000; i++) values[i] = (int)(seed = seed * 1103515245u + 12345u);
    qsort(values, 100000, sizeof values[0], compare_ints);
  }
  return 0;
}
