/* hello_exit CODE [ENVVAR...]
 *
 * Prints a fixed greeting, then "NAME=value" (or "NAME unset") for each ENVVAR,
 * burns ~50 ms of CPU in hello_burn() and exits with status CODE. Its stdout is
 * deterministic so runs with and without the agent can be compared. */
#include <stdio.h>
#include <stdlib.h>

#include "burnlib.h"

static volatile uint64_t sink;

__attribute__((noinline, noclone)) void hello_burn(uint64_t ns) {
  SPIN_THREAD_CPU(ns, sink);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hello_exit CODE [ENVVAR...]\n");
    return 2;
  }
  printf("hello from hello_exit\n");
  for (int i = 2; i < argc; i++) {
    const char *v = getenv(argv[i]);
    if (v)
      printf("%s=%s\n", argv[i], v);
    else
      printf("%s unset\n", argv[i]);
  }
  fflush(stdout);
  hello_burn(50000000ull);
  return atoi(argv[1]);
}
