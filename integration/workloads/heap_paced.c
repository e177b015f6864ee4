/* heap_paced SECONDS MIB
 *
 * Keeps 4 MiB live (paced_keep: 1024 x 4 KiB), then allocates and frees MIB
 * MiB in 1 KiB blocks (paced_churn) spread evenly over SECONDS seconds of wall
 * time (1 MiB at a time, sleeping in between), then returns from main. Used
 * for periodic heap dumps: by time (PPROF_HEAP_DUMP_INTERVAL) and by allocated
 * bytes (PPROF_HEAP_DUMP_BYTES). The sleeps are the workload's pacing, so that
 * an agent thread has time to write each dump; nothing is timed by the test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *volatile g_keep[1024]; /* volatile: never read; the stores must stay */
static volatile unsigned char g_sink;

__attribute__((noinline, noclone)) void paced_keep(void) {
  for (int i = 0; i < 1024; i++) {
    void *p = malloc(4096);
    if (!p) abort();
    g_keep[i] = p;
  }
}

__attribute__((noinline, noclone)) void paced_churn(size_t blocks) {
  for (size_t i = 0; i < blocks; i++) {
    unsigned char *volatile p = malloc(1024);
    if (!p) abort();
    p[0] = (unsigned char)i;
    g_sink = p[0];
    free(p);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: heap_paced SECONDS MIB\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  long mib = atol(argv[2]);
  paced_keep();
  printf("started\n");
  fflush(stdout);
  double step = mib > 0 ? seconds / (double)mib : seconds;
  struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
  for (long i = 0; i < mib; i++) {
    paced_churn(1024);
    nanosleep(&ts, NULL);
  }
  if (mib <= 0) nanosleep(&ts, NULL);
  printf("allocated_bytes=%ld\n", mib << 20);
  return 0;
}
