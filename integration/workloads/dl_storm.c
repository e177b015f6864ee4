/* dl_storm SECONDS PLUGIN_PATH
 *
 * For SECONDS of wall time:
 *   - 3 threads loop dlopen(PLUGIN) / dlsym / call / dlclose,
 *   - 1 thread loops dl_iterate_phdr,
 *   - 1 thread keeps creating short-lived threads that each dlopen/dlclose the
 *     plugin and walk dl_iterate_phdr once (thread registration + loader lock),
 *   - 1 thread burns CPU in storm_burn().
 * A profiler that unwinds or symbolizes in its signal handler through the loader
 * (dl_iterate_phdr, dladdr, ...) deadlocks here. At the end the counts are
 * printed; the exit status is 0 only if every kind of operation happened and
 * none failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "burnlib.h"
#include "timed_threads.h"

static const char *plugin;
static atomic_int stop;
static atomic_long dl_cycles, phdr_walks, threads_spawned, failures;
static volatile uint64_t sink;

typedef uint64_t (*work_fn)(int);

static int one_dl_cycle(void) {
  void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dl_storm: dlopen: %s\n", dlerror());
    return -1;
  }
  work_fn f = (work_fn)dlsym(h, "storm_plugin_work");
  if (!f) {
    fprintf(stderr, "dl_storm: dlsym: %s\n", dlerror());
    dlclose(h);
    return -1;
  }
  sink = f(200);
  if (dlclose(h) != 0) {
    fprintf(stderr, "dl_storm: dlclose: %s\n", dlerror());
    return -1;
  }
  return 0;
}

static int count_phdr(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  *(long *)data += info->dlpi_phnum;
  return 0;
}

static void one_phdr_walk(void) {
  long n = 0;
  dl_iterate_phdr(count_phdr, &n);
  sink = (uint64_t)n;
}

static void *dl_looper(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "dl-loop");
  while (!atomic_load(&stop)) {
    if (one_dl_cycle() != 0) atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&dl_cycles, 1);
  }
  return NULL;
}

static void *phdr_looper(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "phdr-loop");
  while (!atomic_load(&stop)) {
    one_phdr_walk();
    atomic_fetch_add(&phdr_walks, 1);
  }
  return NULL;
}

static void *short_lived(void *arg) {
  (void)arg;
  if (one_dl_cycle() != 0) atomic_fetch_add(&failures, 1);
  one_phdr_walk();
  atomic_fetch_add(&dl_cycles, 1);
  atomic_fetch_add(&phdr_walks, 1);
  return NULL;
}

static void *churner(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "churn");
  while (!atomic_load(&stop)) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_lived, NULL) != 0) {
      atomic_fetch_add(&failures, 1);
      continue;
    }
    pthread_join(t, NULL);
    atomic_fetch_add(&threads_spawned, 1);
  }
  return NULL;
}

__attribute__((noinline, noclone)) void storm_burn(void) {
  uint64_t x = sink | 1;
  while (!atomic_load(&stop)) {
    for (int i = 0; i < 200000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
  }
}

static void *burner(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "burner");
  storm_burn();
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: dl_storm SECONDS PLUGIN_PATH\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  plugin = argv[2];
  void *(*const fns[])(void *) = {dl_looper, dl_looper, dl_looper, phdr_looper, churner, burner};
  run_threads_for(seconds, fns, sizeof fns / sizeof fns[0], &stop);
  long c = atomic_load(&dl_cycles), w = atomic_load(&phdr_walks), s = atomic_load(&threads_spawned),
       f = atomic_load(&failures);
  printf("dl_cycles=%ld phdr_walks=%ld threads_spawned=%ld failures=%ld\n", c, w, s, f);
  return (c > 0 && w > 0 && s > 0 && f == 0) ? 0 : 1;
}
