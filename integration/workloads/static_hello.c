/* Linked with -static: LD_PRELOAD cannot work on it, the launcher must refuse it (125). */
#include <stdio.h>

int main(void) {
  printf("hello from static_hello\n");
  return 0;
}
