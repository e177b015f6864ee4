/* malloc_semantics
 *
 * A table of checks of the malloc family's observable behaviour, one output
 * line per check with what was observed (NULL or not, errno, alignment, usable
 * size >= request, contents preserved, memory zeroed). The output contains no
 * addresses and no sizes that depend on the allocator's internals, so a run
 * under the agent must print exactly what a run without it prints.
 *
 * Covered: malloc over many sizes (malloc_usable_size >= request, the whole
 * usable size writable), impossible sizes (ENOMEM), calloc zeroing of recycled
 * memory and overflow (ENOMEM), realloc chains (grow, shrink, realloc(NULL),
 * realloc to 0, failing realloc keeps the block), reallocarray (growth and
 * overflow), posix_memalign / aligned_alloc / memalign / valloc / pvalloc over
 * a table of alignments and sizes (alignment of the result, usable size, EINVAL
 * for bad alignments, memptr untouched on failure), realloc of aligned blocks,
 * cross-thread frees (allocated in one thread, checked and freed in another,
 * in both directions), and a concurrent mix where every thread frees blocks the
 * others allocated.
 *
 * At the end some blocks are intentionally left live, each set from its own
 * noinline function, and the process returns from main. Their totals are
 * printed on the last lines ("keep ..."), so the test can compare them with the
 * exit heap profile at PPROF_MEM_RATE=1 (every allocation sampled, no scaling).
 * All blocks from xthread_alloc() are freed by another thread, so their in-use
 * must be 0 while their alloc count is exact.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "burnlib.h"

static const char *errname(int e) {
  switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    default: {
      static char buf[32];
      snprintf(buf, sizeof buf, "%d", e);
      return buf;
    }
  }
}

/* Hides a value from the optimizer, so that impossible sizes are really passed
 * to the allocator at run time (GCC knows the malloc family's semantics). */
static inline size_t opaque(size_t v) {
  __asm__ volatile("" : "+r"(v));
  return v;
}

/* Makes the optimizer assume the memory at p is read (so a malloc, memset,
 * free sequence is really executed). */
static inline void escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* A failing realloc leaves the block alive; GCC 12 cannot know that. */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

static unsigned char pat(size_t i, unsigned seed) { return (unsigned char)(i * 131u + seed * 7u + 1u); }

static void fill(void *p, size_t n, unsigned seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < n; i++) c[i] = pat(i, seed);
}

static int check(const void *p, size_t n, unsigned seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i] != pat(i, seed)) return 0;
  return 1;
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i]) return 0;
  return 1;
}

/* Writes the whole usable size (allowed by glibc), then checks it. */
static int usable_ok(void *p, size_t req) {
  size_t u = malloc_usable_size(p);
  if (u < req) return 0;
  fill(p, u, 3);
  return check(p, u, 3);
}

/* ---------------------------------------------------------------------- */

static void t_malloc_sizes(void) {
  static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 24, 100, 1000, 4095, 4096, 65536,
                                 131073, 1 << 20, 4 << 20, 16 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    void *p = malloc(sizes[i]);
    printf("malloc(%zu): null=%d usable>=req=%d\n", sizes[i], p == NULL,
           p ? usable_ok(p, sizes[i]) : -1);
    free(p);
  }
  printf("malloc_usable_size(NULL)=%zu\n", malloc_usable_size(NULL));
  free(NULL);
  printf("free(NULL): ok\n");
}

static void t_malloc_impossible(void) {
  static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                                 (size_t)1 << 62};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    errno = 0;
    void *p = malloc(opaque(sizes[i]));
    int e = errno;
    printf("malloc(%#zx): null=%d errno=%s\n", sizes[i], p == NULL, p ? "-" : errname(e));
    free(p);
  }
}

static void t_calloc(void) {
  static const size_t shapes[][2] = {{1, 1}, {10, 10}, {1, 4096}, {100, 1000}, {3, 50000},
                                     {1, 200000}, {1024, 1024}, {0, 0}, {0, 10}, {10, 0}};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    size_t n = shapes[i][0], s = shapes[i][1], tot = n * s;
    /* Dirty a block of the same size first, so a recycled chunk is likely. */
    void *d = malloc(tot ? tot : 1);
    if (d) memset(d, 0xa5, tot ? tot : 1);
    escape(d);
    free(d);
    void *p = calloc(n, s);
    int zero = p ? all_zero(p, tot) : -1;
    printf("calloc(%zu,%zu): null=%d zeroed=%d usable>=req=%d\n", n, s, p == NULL, zero,
           p ? usable_ok(p, tot) : -1);
    free(p);
  }
  static const size_t bad[][2] = {{SIZE_MAX / 2 + 1, 2}, {SIZE_MAX, SIZE_MAX},
                                  {(size_t)1 << 33, (size_t)1 << 33}, {2, SIZE_MAX / 2 + 1},
                                  {SIZE_MAX, 1}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    void *p = calloc(opaque(bad[i][0]), opaque(bad[i][1]));
    int e = errno;
    printf("calloc(%#zx,%#zx): null=%d errno=%s\n", bad[i][0], bad[i][1], p == NULL,
           p ? "-" : errname(e));
    free(p);
  }
}

static void t_realloc(void) {
  /* realloc(NULL, n) behaves as malloc(n). */
  unsigned char *p = realloc(NULL, 16);
  printf("realloc(NULL,16): null=%d usable>=req=%d\n", p == NULL, p ? usable_ok(p, 16) : -1);
  fill(p, 16, 1);

  /* Grow by doubling up to 8 MiB, then shrink by halving down to 1 byte; the
   * common prefix must survive every step. */
  size_t n = 16, steps = 0, kept = 0, usable = 0;
  while (n < (8u << 20)) {
    size_t m = n * 2;
    unsigned char *q = realloc(p, m);
    if (!q) break;
    steps++;
    kept += check(q, n, 1);
    usable += malloc_usable_size(q) >= m;
    fill(q, m, 1);
    p = q, n = m;
  }
  printf("realloc grow 16->%zu: steps=%zu preserved=%zu usable>=req=%zu\n", n, steps, kept, usable);
  steps = kept = usable = 0;
  while (n > 1) {
    size_t m = n / 2;
    unsigned char *q = realloc(p, m);
    if (!q) break;
    steps++;
    kept += check(q, m, 1);
    usable += malloc_usable_size(q) >= m;
    p = q, n = m;
  }
  printf("realloc shrink ->%zu: steps=%zu preserved=%zu usable>=req=%zu\n", n, steps, kept, usable);

  /* Same size, and an odd-size zig-zag. */
  unsigned char *q = realloc(p, 1);
  printf("realloc same size: null=%d preserved=%d\n", q == NULL, q ? check(q, 1, 1) : -1);
  p = q;
  static const size_t zig[] = {100, 40, 5000, 3000, 200000, 150000, 64, 1 << 20, 24};
  size_t prev = 1, ok = 0;
  fill(p, 1, 2);
  for (size_t i = 0; i < sizeof zig / sizeof *zig; i++) {
    q = realloc(p, zig[i]);
    if (!q) break;
    ok += check(q, prev < zig[i] ? prev : zig[i], 2);
    fill(q, zig[i], 2);
    p = q, prev = zig[i];
  }
  printf("realloc zig-zag: steps=%zu preserved=%zu\n", sizeof zig / sizeof *zig, ok);

  /* A failing realloc returns NULL with ENOMEM and leaves the block alone. */
  errno = 0;
  q = realloc(p, opaque(SIZE_MAX - 100));
  int e = errno;
  printf("realloc(p,huge): null=%d errno=%s block intact=%d\n", q == NULL, q ? "-" : errname(e),
         check(p, prev, 2));
  if (q) p = q;

  /* realloc to 0 frees the block and returns NULL (glibc). */
  q = realloc(p, 0);
  printf("realloc(p,0): null=%d\n", q == NULL);
  free(q);

  /* Many small reallocs on several blocks at once (interleaved). */
  enum { NB = 64 };
  unsigned char *bl[NB];
  size_t sz[NB];
  uint64_t rng = 12345;
  for (int i = 0; i < NB; i++) {
    sz[i] = 1 + xorshift64(&rng) % 300;
    bl[i] = malloc(sz[i]);
    fill(bl[i], sz[i], (unsigned)i);
  }
  size_t good = 0, total = 0;
  for (int round = 0; round < 200; round++) {
    int i = (int)(xorshift64(&rng) % NB);
    size_t m = 1 + xorshift64(&rng) % (round % 10 == 9 ? 300000 : 3000);
    unsigned char *r = realloc(bl[i], m);
    if (!r) continue;
    total++;
    good += check(r, sz[i] < m ? sz[i] : m, (unsigned)i);
    fill(r, m, (unsigned)i);
    bl[i] = r, sz[i] = m;
  }
  for (int i = 0; i < NB; i++) free(bl[i]);
  printf("realloc interleaved: steps=%zu preserved=%zu\n", total, good);
}

static void t_reallocarray(void) {
  unsigned char *p = reallocarray(NULL, 10, 10);
  printf("reallocarray(NULL,10,10): null=%d usable>=req=%d\n", p == NULL, p ? usable_ok(p, 100) : -1);
  fill(p, 100, 4);
  unsigned char *q = reallocarray(p, 100, 100);
  printf("reallocarray(p,100,100): null=%d preserved=%d usable>=req=%d\n", q == NULL,
         q ? check(q, 100, 4) : -1, q ? malloc_usable_size(q) >= 10000 : -1);
  if (q) p = q;
  static const size_t bad[][2] = {{SIZE_MAX / 2, 3}, {(size_t)1 << 33, (size_t)1 << 33},
                                  {SIZE_MAX, SIZE_MAX}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    q = reallocarray(p, opaque(bad[i][0]), opaque(bad[i][1]));
    int e = errno;
    printf("reallocarray(p,%#zx,%#zx): null=%d errno=%s block intact=%d\n", bad[i][0], bad[i][1],
           q == NULL, q ? "-" : errname(e), check(p, 100, 4));
    if (q) p = q;
  }
  free(p);
}

/* Also the alignment-only rule of memalign/aligned_alloc on this glibc: an
 * alignment that is not a power of two is rounded up (no error). */
static void t_odd_alignment(void) {
  static const size_t odd[] = {3, 24, 48, 100};
  for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
    errno = 0;
    void *p = memalign(opaque(odd[i]), 100);
    int e = errno;
    printf("memalign(%zu,100): null=%d errno=%s aligned to 16=%d\n", odd[i], p == NULL,
           p ? "-" : errname(e), p ? aligned_to(p, 16) : -1);
    free(p);
    errno = 0;
    p = aligned_alloc(opaque(odd[i]), 200);
    e = errno;
    printf("aligned_alloc(%zu,200): null=%d errno=%s aligned to 16=%d\n", odd[i], p == NULL,
           p ? "-" : errname(e), p ? aligned_to(p, 16) : -1);
    free(p);
  }
}

static const size_t kAligns[] = {8, 16, 32, 64, 128, 256, 4096, 65536, 1 << 21};
static const size_t kAlignSizes[] = {1, 24, 100, 5000, 1 << 20};

static void t_posix_memalign(void) {
  for (size_t a = 0; a < sizeof kAligns / sizeof *kAligns; a++)
    for (size_t s = 0; s < sizeof kAlignSizes / sizeof *kAlignSizes; s++) {
      void *p = NULL;
      int r = posix_memalign(&p, kAligns[a], kAlignSizes[s]);
      printf("posix_memalign(%zu,%zu): ret=%s null=%d aligned=%d usable>=req=%d\n", kAligns[a],
             kAlignSizes[s], errname(r), p == NULL, p ? aligned_to(p, kAligns[a]) : -1,
             p ? usable_ok(p, kAlignSizes[s]) : -1);
      free(p);
    }
  /* Not a power of two, or smaller than sizeof(void *): EINVAL, memptr untouched. */
  static const size_t bad[] = {0, 1, 2, 4, 3, 12, 24, 48, 100, 4097};
  void *const marker = (void *)&t_posix_memalign;
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    void *p = marker;
    errno = 0;
    int r = posix_memalign(&p, opaque(bad[i]), 100);
    printf("posix_memalign(%zu,100): ret=%s memptr untouched=%d errno unchanged=%d\n", bad[i],
           errname(r), p == marker, errno == 0);
    if (p != marker) free(p);
  }
  void *p = marker;
  int r = posix_memalign(&p, 64, opaque(SIZE_MAX - 100));
  printf("posix_memalign(64,huge): ret=%s memptr untouched=%d\n", errname(r), p == marker);
  if (p != marker) free(p);
}

static void t_aligned_alloc(void) {
  for (size_t a = 0; a < sizeof kAligns / sizeof *kAligns; a++)
    for (size_t s = 0; s < sizeof kAlignSizes / sizeof *kAlignSizes; s++) {
      /* C11 wants the size to be a multiple of the alignment. */
      size_t n = (kAlignSizes[s] + kAligns[a] - 1) / kAligns[a] * kAligns[a];
      void *p = aligned_alloc(kAligns[a], n);
      printf("aligned_alloc(%zu,%zu): null=%d aligned=%d usable>=req=%d\n", kAligns[a], n,
             p == NULL, p ? aligned_to(p, kAligns[a]) : -1, p ? usable_ok(p, n) : -1);
      free(p);
    }
  errno = 0;
  void *p = aligned_alloc(64, opaque(SIZE_MAX - 100));
  int e = errno;
  printf("aligned_alloc(64,huge): null=%d errno=%s\n", p == NULL, p ? "-" : errname(e));
  free(p);
}

static void t_memalign(void) {
  for (size_t a = 0; a < sizeof kAligns / sizeof *kAligns; a++)
    for (size_t s = 0; s < sizeof kAlignSizes / sizeof *kAlignSizes; s++) {
      void *p = memalign(kAligns[a], kAlignSizes[s]);
      printf("memalign(%zu,%zu): null=%d aligned=%d usable>=req=%d\n", kAligns[a], kAlignSizes[s],
             p == NULL, p ? aligned_to(p, kAligns[a]) : -1, p ? usable_ok(p, kAlignSizes[s]) : -1);
      free(p);
    }
  errno = 0;
  void *p = memalign(64, opaque(SIZE_MAX - 100));
  int e = errno;
  printf("memalign(64,huge): null=%d errno=%s\n", p == NULL, p ? "-" : errname(e));
  free(p);

  /* realloc of aligned blocks keeps the contents. */
  static const size_t ra[] = {64, 4096, 65536};
  for (size_t i = 0; i < sizeof ra / sizeof *ra; i++) {
    unsigned char *b = memalign(ra[i], 3000);
    fill(b, 3000, 9);
    unsigned char *c = realloc(b, 300000);
    int ok1 = c ? check(c, 3000, 9) : -1;
    unsigned char *d = c ? realloc(c, 100) : NULL;
    printf("memalign(%zu,3000) then realloc 300000, 100: null=%d preserved=%d,%d\n", ra[i],
           d == NULL, ok1, d ? check(d, 100, 9) : -1);
    free(d ? d : c);
  }
}

static void t_valloc_pvalloc(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  static const size_t sizes[] = {1, 100, 4096, 4097, 100000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    void *p = valloc(sizes[s]);
    printf("valloc(%zu): null=%d page aligned=%d usable>=req=%d\n", sizes[s], p == NULL,
           p ? aligned_to(p, page) : -1, p ? usable_ok(p, sizes[s]) : -1);
    free(p);
    size_t rounded = (sizes[s] + page - 1) / page * page;
    p = pvalloc(sizes[s]);
    printf("pvalloc(%zu): null=%d page aligned=%d usable>=page-rounded req=%d\n", sizes[s],
           p == NULL, p ? aligned_to(p, page) : -1, p ? usable_ok(p, rounded) : -1);
    free(p);
  }
  errno = 0;
  void *p = valloc(opaque(SIZE_MAX - 100));
  int e = errno;
  printf("valloc(huge): null=%d errno=%s\n", p == NULL, p ? "-" : errname(e));
  free(p);
  errno = 0;
  p = pvalloc(opaque(SIZE_MAX - 100));
  e = errno;
  printf("pvalloc(huge): null=%d errno=%s\n", p == NULL, p ? "-" : errname(e));
  free(p);
}

/* ---------------------------------------------------------------------- */
/* Cross-thread frees. */

enum { XBATCH = 2000, XROUNDS = 10 };

struct xfer {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int full;   /* the batch is ready for the other side */
  int done;
  void *blocks[XBATCH];
  size_t sizes[XBATCH];
  unsigned seeds[XBATCH];
};

static size_t g_xthread_allocs;

__attribute__((noinline, noclone)) void *xthread_alloc(size_t n) {
  void *p = malloc(n);
  __atomic_fetch_add(&g_xthread_allocs, 1, __ATOMIC_RELAXED);
  return p;
}

static void xfill_batch(struct xfer *x, uint64_t *rng, unsigned round) {
  for (int i = 0; i < XBATCH; i++) {
    size_t n = 16 + xorshift64(rng) % 4081;
    if (i % 500 == 499) n = 200000; /* a few large (mmapped) ones */
    x->blocks[i] = xthread_alloc(n);
    x->sizes[i] = n;
    x->seeds[i] = round * XBATCH + (unsigned)i;
    fill(x->blocks[i], n < 64 ? n : 64, x->seeds[i]);
  }
}

static size_t xcheck_free_batch(struct xfer *x) {
  size_t ok = 0;
  for (int i = 0; i < XBATCH; i++) {
    size_t n = x->sizes[i];
    ok += check(x->blocks[i], n < 64 ? n : 64, x->seeds[i]) && malloc_usable_size(x->blocks[i]) >= n;
    free(x->blocks[i]);
  }
  return ok;
}

struct xstats {
  struct xfer *x;
  size_t verified;
};

/* The consumer waits for a full batch, checks and frees it in its own thread. */
static void *x_consumer(void *arg) {
  struct xstats *st = arg;
  struct xfer *x = st->x;
  for (;;) {
    pthread_mutex_lock(&x->mu);
    while (!x->full && !x->done) pthread_cond_wait(&x->cv, &x->mu);
    if (!x->full && x->done) {
      pthread_mutex_unlock(&x->mu);
      return NULL;
    }
    pthread_mutex_unlock(&x->mu);
    st->verified += xcheck_free_batch(x);
    pthread_mutex_lock(&x->mu);
    x->full = 0;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
  }
}

/* The producer allocates batches in its own thread. */
static void *x_producer(void *arg) {
  struct xfer *x = arg;
  uint64_t rng = 777;
  for (unsigned r = 0; r < XROUNDS; r++) {
    pthread_mutex_lock(&x->mu);
    while (x->full) pthread_cond_wait(&x->cv, &x->mu);
    pthread_mutex_unlock(&x->mu);
    xfill_batch(x, &rng, r);
    pthread_mutex_lock(&x->mu);
    x->full = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
  }
  pthread_mutex_lock(&x->mu);
  while (x->full) pthread_cond_wait(&x->cv, &x->mu);
  x->done = 1;
  pthread_cond_broadcast(&x->cv);
  pthread_mutex_unlock(&x->mu);
  return NULL;
}

static void t_cross_thread(void) {
  static struct xfer x;
  /* 1. A worker thread allocates, another worker frees. */
  pthread_mutex_init(&x.mu, NULL);
  pthread_cond_init(&x.cv, NULL);
  struct xstats st = {&x, 0};
  pthread_t pt, ct;
  pthread_create(&ct, NULL, x_consumer, &st);
  pthread_create(&pt, NULL, x_producer, &x);
  pthread_join(pt, NULL);
  pthread_join(ct, NULL);
  printf("cross-thread worker->worker: blocks=%d verified=%zu\n", XBATCH * XROUNDS, st.verified);

  /* 2. main allocates, a worker frees. */
  memset(&x, 0, sizeof x);
  pthread_mutex_init(&x.mu, NULL);
  pthread_cond_init(&x.cv, NULL);
  st.x = &x, st.verified = 0;
  pthread_create(&ct, NULL, x_consumer, &st);
  x_producer(&x);
  pthread_join(ct, NULL);
  printf("cross-thread main->worker: blocks=%d verified=%zu\n", XBATCH * XROUNDS, st.verified);

  /* 3. a worker allocates, main frees. */
  memset(&x, 0, sizeof x);
  pthread_mutex_init(&x.mu, NULL);
  pthread_cond_init(&x.cv, NULL);
  st.x = &x, st.verified = 0;
  pthread_create(&pt, NULL, x_producer, &x);
  x_consumer(&st);
  pthread_join(pt, NULL);
  printf("cross-thread worker->main: blocks=%d verified=%zu\n", XBATCH * XROUNDS, st.verified);
}

/* 4. Concurrent mix: NT threads each allocate into their own slots of a
 * shared ring and free whatever another thread left in the slot they visit. */
enum { NT = 4, RING = 4096, OPS = 50000 };
static void *g_ring[RING];
static size_t g_ring_size[RING];
static pthread_mutex_t g_ring_mu[RING / 64];
static pthread_barrier_t g_barrier;

struct mixarg {
  int id;
  size_t bad, ops;
};

static void *mix_thread(void *arg) {
  struct mixarg *m = arg;
  uint64_t rng = 1000 + (uint64_t)m->id;
  pthread_barrier_wait(&g_barrier);
  for (int i = 0; i < OPS; i++) {
    size_t slot = xorshift64(&rng) % RING;
    size_t n = 1 + xorshift64(&rng) % (i % 100 == 0 ? 100000 : 2000);
    void *nb = xthread_alloc(n);
    fill(nb, n < 32 ? n : 32, (unsigned)n);
    pthread_mutex_lock(&g_ring_mu[slot / 64]);
    void *old = g_ring[slot];
    size_t on = g_ring_size[slot];
    g_ring[slot] = nb;
    g_ring_size[slot] = n;
    pthread_mutex_unlock(&g_ring_mu[slot / 64]);
    if (old) {
      if (!check(old, on < 32 ? on : 32, (unsigned)on) || malloc_usable_size(old) < on) m->bad++;
      free(old);
    }
    m->ops++;
  }
  return NULL;
}

static void t_concurrent_mix(void) {
  for (int i = 0; i < RING / 64; i++) pthread_mutex_init(&g_ring_mu[i], NULL);
  pthread_barrier_init(&g_barrier, NULL, NT);
  pthread_t t[NT];
  struct mixarg a[NT];
  for (int i = 0; i < NT; i++) {
    a[i].id = i, a[i].bad = 0, a[i].ops = 0;
    pthread_create(&t[i], NULL, mix_thread, &a[i]);
  }
  size_t bad = 0, ops = 0;
  for (int i = 0; i < NT; i++) {
    pthread_join(t[i], NULL);
    bad += a[i].bad;
    ops += a[i].ops;
  }
  size_t left = 0;
  for (int i = 0; i < RING; i++) {
    if (g_ring[i]) {
      if (!check(g_ring[i], g_ring_size[i] < 32 ? g_ring_size[i] : 32, (unsigned)g_ring_size[i]))
        bad++;
      free(g_ring[i]);
      left++;
    }
  }
  printf("concurrent mix: threads=%d ops=%zu bad=%zu leftovers freed=%d\n", NT, ops, bad, left > 0);
  printf("xthread_alloc calls=%zu\n", g_xthread_allocs);
}

/* ---------------------------------------------------------------------- */
/* Blocks kept live at exit, one noinline function per kind. Sizes are 8 mod
 * 16, for which glibc's usable size equals the request. */

enum {
  KEEP_MALLOC_N = 100, KEEP_MALLOC_SZ = 1000,
  KEEP_CALLOC_N = 10, KEEP_CALLOC_NMEMB = 5, KEEP_CALLOC_SZ = 200,
  KEEP_ALIGN_N = 8, KEEP_ALIGN_SZ = 1000, KEEP_ALIGN = 256,
  KEEP_REALLOC_SZ = 40008,
};
/* volatile: the blocks are never read again, and GCC would otherwise drop
 * the stores and then the allocations themselves (or turn the last realloc
 * into a tail call that leaves keep_realloc off the stack). */
static void *volatile g_keep_malloc[KEEP_MALLOC_N];
static void *volatile g_keep_calloc[KEEP_CALLOC_N];
static void *volatile g_keep_align[KEEP_ALIGN_N];
static void *volatile g_keep_realloc;

__attribute__((noinline, noclone)) void keep_malloc(void) {
  for (int i = 0; i < KEEP_MALLOC_N; i++) g_keep_malloc[i] = malloc(KEEP_MALLOC_SZ);
}

__attribute__((noinline, noclone)) void keep_calloc(void) {
  for (int i = 0; i < KEEP_CALLOC_N; i++) g_keep_calloc[i] = calloc(KEEP_CALLOC_NMEMB, KEEP_CALLOC_SZ);
}

__attribute__((noinline, noclone)) void keep_posix_memalign(void) {
  for (int i = 0; i < KEEP_ALIGN_N; i++) {
    void *p;
    if (posix_memalign(&p, KEEP_ALIGN, KEEP_ALIGN_SZ)) abort();
    g_keep_align[i] = p;
  }
}

/* 24 -> 40 -> 1000 -> 40008: three reallocs; only the last block stays. */
__attribute__((noinline, noclone)) void keep_realloc(void) {
  void *p = malloc(24);
  p = realloc(p, 40);
  p = realloc(p, 1000);
  p = realloc(p, KEEP_REALLOC_SZ);
  g_keep_realloc = p;
}

static void t_keep(void) {
  keep_malloc();
  keep_calloc();
  keep_posix_memalign();
  keep_realloc();
  printf("keep keep_malloc objects=%d bytes=%d\n", KEEP_MALLOC_N, KEEP_MALLOC_N * KEEP_MALLOC_SZ);
  printf("keep keep_calloc objects=%d bytes=%d\n", KEEP_CALLOC_N,
         KEEP_CALLOC_N * KEEP_CALLOC_NMEMB * KEEP_CALLOC_SZ);
  printf("keep keep_posix_memalign objects=%d bytes=%d\n", KEEP_ALIGN_N, KEEP_ALIGN_N * KEEP_ALIGN_SZ);
  printf("keep keep_realloc objects=1 bytes=%d\n", KEEP_REALLOC_SZ);
}

int main(void) {
  static void (*const table[])(void) = {
      t_malloc_sizes, t_malloc_impossible, t_calloc,         t_realloc,        t_reallocarray,
      t_posix_memalign, t_aligned_alloc,   t_memalign,       t_odd_alignment,       t_valloc_pvalloc, t_cross_thread,
      t_concurrent_mix, t_keep,
  };
  for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
    table[i]();
    fflush(stdout);
  }
  printf("done\n");
  return 0;
}
