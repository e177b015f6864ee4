/* libfake_jemalloc.so: a stand-in for jemalloc builds that Debian does not
 * ship, to test the agent's fallbacks from the jemalloc heap backend. Like
 * jemalloc, it defines the malloc family (forwarded to glibc's __libc_*
 * functions) and mallctl, in the same object; FAKE_JEMALLOC_MODE picks what
 * its mallctl answers:
 *   noprof   config.prof is false (jemalloc built without --enable-prof)
 *   nohooks  profiling on, but no experimental.hooks.prof_backtrace (< 5.3.0)
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

void *malloc(size_t n) { return __libc_malloc(n); }
void free(void *p) { __libc_free(p); }
void *calloc(size_t n, size_t m) { return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  void *p = __libc_memalign(a, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

static int answer_bool(void *oldp, size_t *oldlenp, bool value) {
  if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(bool)) return EINVAL;
  *(bool *)oldp = value;
  return 0;
}

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
  (void)newp;
  (void)newlen;
  /* Read at the first call: the agent asks from its constructor, after
   * libc's environment is set up. */
  const char *mode = getenv("FAKE_JEMALLOC_MODE");
  if (mode == NULL) mode = "";
  if (strcmp(name, "config.prof") == 0) return answer_bool(oldp, oldlenp, strcmp(mode, "noprof") != 0);
  if (strcmp(name, "opt.prof") == 0 && strcmp(mode, "noprof") != 0)
    return answer_bool(oldp, oldlenp, true);
  return ENOENT;
}
