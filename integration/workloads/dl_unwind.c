/* dl_unwind SECONDS PLUGIN PLUGIN_B
 *
 * For SECONDS of wall time:
 *   - 2 threads (plugin-burner) burn CPU inside PLUGIN, three frames deep
 *     (plugin_burner_main -> unwind_plugin_work -> ... -> unwind_plugin_burn),
 *   - 1 thread (dl-cycler) loops dlopen/dlclose of PLUGIN (its reference count
 *     goes up and down; main holds it, so it stays mapped and can be
 *     symbolized at exit) and of PLUGIN_B, which each last dlclose unmaps,
 *   - 1 thread (b-burner) loops dlopen(PLUGIN_B) / burn inside it / dlclose.
 * An unwinder that reads unwind tables in place must neither crash when
 * objects go away nor stop unwinding through the plugin that stays. Prints the
 * counts; exits 0 only if every kind of operation happened and none failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timed_threads.h"

typedef uint64_t (*work_fn)(uint64_t);

static const char *plugin, *plugin_b;
static work_fn plugin_work;
static atomic_int stop;
static atomic_long cycles, b_calls, failures;
static volatile uint64_t sink;

__attribute__((noinline)) void plugin_burner_main(void) {
  while (!atomic_load(&stop)) sink += plugin_work(2000000);
}

static void *plugin_burner(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "plugin-burner");
  plugin_burner_main();
  return NULL;
}

/* dlopen + call + dlclose of PLUGIN_B; 0 on success. */
static int b_cycle(uint64_t n) {
  void *h = dlopen(plugin_b, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dl_unwind: dlopen %s: %s\n", plugin_b, dlerror());
    return -1;
  }
  work_fn f = (work_fn)dlsym(h, "storm_plugin_work");
  if (f) sink += f((int)n);
  int rc = dlclose(h);
  return f && rc == 0 ? 0 : -1;
}

static void *dl_cycler(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "dl-cycler");
  while (!atomic_load(&stop)) {
    void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (!h || dlclose(h) != 0) atomic_fetch_add(&failures, 1);
    if (b_cycle(100) != 0) atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&cycles, 1);
  }
  return NULL;
}

static void *b_burner(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "b-burner");
  while (!atomic_load(&stop)) {
    if (b_cycle(200000) != 0) atomic_fetch_add(&failures, 1);
    atomic_fetch_add(&b_calls, 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: dl_unwind SECONDS PLUGIN PLUGIN_B\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  plugin = argv[2];
  plugin_b = argv[3];
  void *held = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);  /* until exit */
  if (!held || !(plugin_work = (work_fn)dlsym(held, "unwind_plugin_work"))) {
    fprintf(stderr, "dl_unwind: %s: %s\n", plugin, dlerror());
    return 1;
  }
  void *(*const fns[])(void *) = {plugin_burner, plugin_burner, dl_cycler, b_burner};
  run_threads_for(seconds, fns, sizeof fns / sizeof fns[0], &stop);
  long c = atomic_load(&cycles), b = atomic_load(&b_calls), f = atomic_load(&failures);
  printf("cycles=%ld b_calls=%ld failures=%ld\n", c, b, f);
  return (c > 0 && b > 0 && f == 0) ? 0 : 1;
}
