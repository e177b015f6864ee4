// live_window: a program whose work changes at a moment the test chooses, for
// the windowed (seconds=N) live profiles (integration/test_live_windows.py).
//   before the trigger  allocate_before(): 64 blocks of 64 KiB (4 MiB), kept
//   on the trigger      allocate_during(): 256 blocks of 64 KiB (16 MiB), kept,
//                       and a new thread "late-burner" spinning in late_burn()
//                       until it has used LATE_BURN_MS of its own CPU time
//                       (CPU time, so a busy test machine changes only how
//                       long that takes)
// The trigger is the file given as argv[1] coming into existence. Until then
// and after, the main thread sleeps. stdout: "ready" once set up, "triggered"
// when the trigger was seen, "bye" on SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define BLOCK (64 * 1024)
#define LATE_BURN_MS 1000

static volatile sig_atomic_t g_stop = 0;
static void on_term(int signo) { (void)signo; g_stop = 1; }

static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

NOINLINE void allocate_before(char** kept, int n) {
  for (int i = 0; i < n; i++) {
    kept[i] = malloc(BLOCK);
    memset(kept[i], 1, BLOCK);
  }
}

NOINLINE void allocate_during(char** kept, int n) {
  for (int i = 0; i < n; i++) {
    kept[i] = malloc(BLOCK);
    memset(kept[i], 2, BLOCK);
  }
}

NOINLINE double late_burn(double x) {
  double end = thread_cpu_ms() + LATE_BURN_MS;
  while (thread_cpu_ms() < end)
    for (int i = 0; i < 5000; i++) x = x * 1.0000001 + 0.5 / (x + 1.0);
  return x;
}

static volatile double g_sink;

static void* late_burner(void* arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "late-burner");
  g_sink = late_burn(1.0);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s TRIGGER_FILE\n", argv[0]);
    return 2;
  }
  signal(SIGTERM, on_term);
  static char* before[64];
  static char* during[256];
  allocate_before(before, 64);
  printf("ready\n");
  fflush(stdout);

  while (!g_stop && access(argv[1], F_OK) != 0) sleep_ms(10);
  pthread_t burner;
  int started = 0;
  if (!g_stop) {
    allocate_during(during, 256);
    started = pthread_create(&burner, NULL, late_burner, NULL) == 0;
    printf("triggered\n");
    fflush(stdout);
  }
  while (!g_stop) sleep_ms(10);
  if (started) pthread_join(burner, NULL);
  printf("bye\n");
  return 0;
}
