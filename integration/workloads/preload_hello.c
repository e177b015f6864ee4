/* A tiny LD_PRELOAD library: its constructor announces which program it was
 * loaded into. Used to check that the launcher keeps an existing LD_PRELOAD. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void preload_hello_init(void) {
  char buf[256];
  const char *a = "preload_hello: loaded into ";
  size_t n = 0, la = strlen(a), lp = strlen(program_invocation_short_name);
  if (la + lp + 1 > sizeof buf) return;
  memcpy(buf, a, la);
  n += la;
  memcpy(buf + n, program_invocation_short_name, lp);
  n += lp;
  buf[n++] = '\n';
  ssize_t r = write(2, buf, n);
  (void)r;
}
