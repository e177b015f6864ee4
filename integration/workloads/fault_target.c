/* fault_target STOP_FILE
 *
 * The program whose profiles the fault and security tests break. Prints
 * AT_SECURE (so a test can check that secure execution was really on) and
 * "ready", then allocates, frees and computes until STOP_FILE exists ("-":
 * a fixed amount of work), prints a checksum that does not depend on timing
 * and exits with status 7. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

static void *volatile g_keep[256];

__attribute__((noinline)) unsigned long fault_work(unsigned long round) {
  unsigned long sum = 0;
  for (int i = 0; i < 256; i++) {
    free(g_keep[i]);
    unsigned char *p = malloc(4096 + (size_t)i);
    if (!p) abort();
    p[0] = (unsigned char)(round + (unsigned long)i);
    sum += p[0];
    g_keep[i] = p;
  }
  for (unsigned long i = 0; i < 200000; i++) sum = sum * 31 + i;
  return sum;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fault_target STOP_FILE|-\n");
    return 2;
  }
  printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
  printf("ready\n");
  fflush(stdout);
  unsigned long checksum = 0;
  unsigned long round = 0;
  for (;;) {
    unsigned long s = fault_work(round);
    if (round < 100) checksum += s;  /* only the first 100 rounds: timing-independent */
    round++;
    if (argv[1][0] == '-' ? round >= 100 : (round >= 100 && access(argv[1], F_OK) == 0)) break;
    if (argv[1][0] != '-' && round >= 100) usleep(10000);
  }
  printf("checksum=%lu\n", checksum);
  return 7;
}
