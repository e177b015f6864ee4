/* libfake_jemalloc.so: a stand-in for jemalloc builds that Debian does not
 * ship, to test the agent's fallbacks from the jemalloc heap backend. Like
 * jemalloc, it defines the malloc family (forwarded to glibc's __libc_*
 * functions) and mallctl, in the same object; FAKE_JEMALLOC_MODE picks what
 * its mallctl answers:
 *   noprof   config.prof is false (jemalloc built without --enable-prof)
 *   nohooks  profiling on, but no experimental.hooks.prof_backtrace (< 5.3.0)
 *   persample  the hooks of jemalloc >= 5.3.1 (Debian 12 has 5.3.0): besides
 *            prof_backtrace, experimental.hooks.prof_sample and
 *            prof_sample_free, called as jemalloc calls them (the backtrace
 *            from the prof_backtrace hook, then the sample hook with the
 *            block, its size, the backtrace and the usable size; the free hook
 *            before a sampled block is freed), sampling every allocation
 *            (prof.lg_sample is 0)
 * Every other name gets ENOENT, as an unknown mallctl name does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

extern size_t malloc_usable_size(void *);

typedef void (*backtrace_hook_t)(void **, unsigned *, unsigned);
typedef void (*sample_hook_t)(const void *, size_t, void **, unsigned, size_t);
typedef void (*sample_free_hook_t)(const void *, size_t);
static backtrace_hook_t g_backtrace_hook;
static sample_hook_t g_sample_hook;
static sample_free_hook_t g_sample_free_hook;
/* Like jemalloc's reentrancy level: allocations made by a hook are not sampled. */
static __thread int t_in_hook;

static void *sampled(void *p, size_t size) {
  if (p == NULL || g_sample_hook == NULL || g_backtrace_hook == NULL || t_in_hook) return p;
  t_in_hook = 1;
  void *bt[128];
  unsigned len = 0;
  g_backtrace_hook(bt, &len, 128);
  g_sample_hook(p, size, bt, len, malloc_usable_size(p));
  t_in_hook = 0;
  return p;
}

static void before_free(void *p) {
  if (p == NULL || g_sample_free_hook == NULL || t_in_hook) return;
  t_in_hook = 1;
  g_sample_free_hook(p, malloc_usable_size(p));
  t_in_hook = 0;
}

void *malloc(size_t n) { return sampled(__libc_malloc(n), n); }
void free(void *p) {
  before_free(p);
  __libc_free(p);
}
void *calloc(size_t n, size_t m) { return sampled(__libc_calloc(n, m), n * m); }
void *realloc(void *p, size_t n) {
  if (p == NULL) return malloc(n);
  before_free(p);
  return sampled(__libc_realloc(p, n), n);
}
void *memalign(size_t a, size_t n) { return sampled(__libc_memalign(a, n), n); }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  void *p = memalign(a, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

static int answer_bool(void *oldp, size_t *oldlenp, bool value) {
  if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(bool)) return EINVAL;
  *(bool *)oldp = value;
  return 0;
}

/* A hook mallctl: reads the current hook, and sets a new one if given. */
static int hook_ctl(void **slot, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
  if (oldp != NULL) {
    if (oldlenp == NULL || *oldlenp != sizeof(void *)) return EINVAL;
    memcpy(oldp, slot, sizeof(void *));
  }
  if (newp != NULL) {
    if (newlen != sizeof(void *)) return EINVAL;
    memcpy(slot, newp, sizeof(void *));
  }
  return 0;
}

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
  /* Read at the first call: the agent asks from its constructor, after
   * libc's environment is set up. */
  const char *mode = getenv("FAKE_JEMALLOC_MODE");
  if (mode == NULL) mode = "";
  if (strcmp(name, "config.prof") == 0) return answer_bool(oldp, oldlenp, strcmp(mode, "noprof") != 0);
  if (strcmp(name, "opt.prof") == 0 && strcmp(mode, "noprof") != 0)
    return answer_bool(oldp, oldlenp, true);
  if (strcmp(mode, "persample") != 0) return ENOENT;
  if (strcmp(name, "experimental.hooks.prof_backtrace") == 0)
    return hook_ctl((void **)&g_backtrace_hook, oldp, oldlenp, newp, newlen);
  if (strcmp(name, "experimental.hooks.prof_sample") == 0)
    return hook_ctl((void **)&g_sample_hook, oldp, oldlenp, newp, newlen);
  if (strcmp(name, "experimental.hooks.prof_sample_free") == 0)
    return hook_ctl((void **)&g_sample_free_hook, oldp, oldlenp, newp, newlen);
  if (strcmp(name, "opt.prof_accum") == 0) return answer_bool(oldp, oldlenp, true);
  if (strcmp(name, "prof.lg_sample") == 0) {
    if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(size_t)) return EINVAL;
    *(size_t *)oldp = 0;
    return 0;
  }
  if (strcmp(name, "prof.active") == 0 || strcmp(name, "prof.reset") == 0) return 0;
  return ENOENT;
}
