/* lock_bench MODE PAIRS [THREADS [WORK]]
 * lock_bench paired|paired-mt PAIRS [BLOCK_PAIRS]
 *
 * Cost of pthread_mutex_lock/unlock pairs, for the mutex/block profiling
 * benchmark (run_lock_bench.py). Prints one line:
 *   mode=<MODE> threads=<T> pairs=<total pairs> ns_per_pair=<wall ns / pairs>
 *   threads_in_process=<n> [contended=<pairs that found the lock taken>]
 *
 * Modes:
 *   uncontended     PAIRS lock/unlock pairs on one mutex in the main thread of
 *                   a process that never created a thread (glibc then takes
 *                   its single-threaded paths: no atomic read-modify-write).
 *                   If threads_in_process > 1 something else (the agent?)
 *                   started a thread, and glibc is on its multi-threaded path.
 *   uncontended-mt  The same, after one thread was created and joined: glibc
 *                   stays on its multi-threaded (atomic) paths from then on.
 *   contended       THREADS threads (default 2) share one mutex, each doing
 *                   PAIRS pairs with a short critical section (WORK dependent
 *                   multiply-adds, default 16, about 20 ns, on data the lock
 *                   protects) and as much work outside it; ns_per_pair is the
 *                   wall time over all THREADS x PAIRS pairs. A pair is
 *                   "contended" when trylock failed: the worker tries first
 *                   (the program's own trylock is not interposed) and calls
 *                   lock only then, so every contended pair goes through the
 *                   interposed pthread_mutex_lock's waiting path.
 *
 *   paired          In ONE process that never created a thread, glibc's own
 *                   pthread_mutex_lock/unlock (looked up with dlvsym in
 *                   libc.so.6) against the functions the program's calls
 *                   reach (read from its PLT slots: the agent's wrappers
 *                   while it records, glibc's own where it rebound the
 *                   slots), both called through pointers from the same loop. PAIRS pairs each, in blocks of BLOCK_PAIRS (third
 *                   argument, default 1000): every block runs once through each
 *                   function, adjacent in time, which one goes first alternating
 *                   from block to block. Prints instead of the line above:
 *                     mode=<MODE> blocks=<n> block_pairs=<n>
 *                     diff_ns_per_pair=<median over blocks of interposed - direct>
 *                     diff_p25=<25th percentile> diff_p75=<75th percentile>
 *                     interposed_ns_per_pair=<median> direct_ns_per_pair=<median>
 *                     same_function=<1 if the normal calls reach glibc's function>
 *                     threads_in_process=<n>
 *                   Without the agent both are the same function, so the
 *                   difference is the noise floor of the method.
 *                   Machine-load drifts slower than a block (about 10 us) hit
 *                   both halves of a block alike and cancel in the difference.
 *   paired-mt       The same, after one thread was created and joined.
 *
 * Paired modes time each block with the time-stamp counter (rdtsc), converted
 * to ns with the counter's rate measured against CLOCK_MONOTONIC over the
 * whole measurement.
 *
 * Uncontended modes: ns_per_pair is the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) over the loop, so time the thread spent
 * preempted on a busy machine does not count; wall_ns_per_pair
 * (CLOCK_MONOTONIC) is printed too. Contended mode: ns_per_pair is wall time
 * (waiting is the point). Only the measured loop is timed, not process
 * start-up or exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int threads_in_process(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  int n = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
  fclose(f);
  return n;
}

static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static volatile uint64_t g_counter;
static int g_work = 16;

static inline uint64_t work(uint64_t x, int n) {
  for (int i = 0; i < n; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((noinline)) static void uncontended_loop(long pairs) {
  for (long i = 0; i < pairs; i++) {
    pthread_mutex_lock(&g_m);
    g_counter++;
    pthread_mutex_unlock(&g_m);
  }
}

static void *nothing(void *a) { return a; }

/* ---- paired mode ---- */

typedef int (*mutex_fn)(pthread_mutex_t *);
static mutex_fn g_direct_lock, g_direct_unlock; /* glibc's own functions */
/* What the program's own calls reach: where its PLT slots for
 * pthread_mutex_lock/unlock lead (the agent's wrappers while it records mutex
 * or block events, glibc's functions while it has rebound the slots). */
static mutex_fn g_interposed_lock, g_interposed_unlock;

/* The content of this program's PLT slot for `name` (the first object
 * dl_iterate_phdr reports is the program itself). */
struct slot_query { const char *name; void *target; };
static int read_plt_slot(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct slot_query *q = data;
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
  const ElfW(Sym) *syms = NULL;
  const char *strs = NULL;
  const ElfW(Rela) *rel = NULL;
  size_t relsz = 0;
  for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
    if (dyn->d_tag == DT_SYMTAB) syms = (const ElfW(Sym) *)dyn->d_un.d_ptr;
    if (dyn->d_tag == DT_STRTAB) strs = (const char *)dyn->d_un.d_ptr;
    if (dyn->d_tag == DT_JMPREL) rel = (const ElfW(Rela) *)dyn->d_un.d_ptr;
    if (dyn->d_tag == DT_PLTRELSZ) relsz = dyn->d_un.d_val;
  }
  for (size_t i = 0; rel && syms && strs && i < relsz / sizeof *rel; i++)
    if (strcmp(strs + syms[ELF64_R_SYM(rel[i].r_info)].st_name, q->name) == 0)
      q->target = *(void **)(info->dlpi_addr + rel[i].r_offset);
  return 1; /* the program only */
}

static mutex_fn plt_target(const char *name) {
  struct slot_query q = {name, NULL};
  dl_iterate_phdr(read_plt_slot, &q);
  return (mutex_fn)q.target;
}

/* glibc's pthread_mutex_lock/unlock themselves, whatever is preloaded:
 * RTLD_NOLOAD takes the libc already mapped, dlvsym the version the program
 * itself binds to, so an interposer (which would be found first by a plain
 * dlsym(RTLD_DEFAULT)) is bypassed. */
static int find_glibc_mutex_functions(void) {
  void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
  if (!libc) return -1;
  g_direct_lock = (mutex_fn)dlvsym(libc, "pthread_mutex_lock", "GLIBC_2.2.5");
  g_direct_unlock = (mutex_fn)dlvsym(libc, "pthread_mutex_unlock", "GLIBC_2.2.5");
  /* Not &pthread_mutex_lock: the agent leaves function addresses as they
   * are and rebinds only calls. One call binds a lazily bound slot. */
  pthread_mutex_lock(&g_m);
  pthread_mutex_unlock(&g_m);
  g_interposed_lock = plt_target("pthread_mutex_lock");
  g_interposed_unlock = plt_target("pthread_mutex_unlock");
  return g_direct_lock && g_direct_unlock && g_interposed_lock && g_interposed_unlock ? 0 : -1;
}

/* One loop for both sides, called through pointers, so the two differ only
 * in the function called, not in the call instruction or the loop's code
 * alignment. (With the normal calls, through the PLT, in a loop of their own,
 * the difference without the agent was 1.2-1.4 ns per pair here, not 0. The
 * PLT's jump is paid with or without the agent, so leaving it out of both
 * sides keeps the wrapper's cost whole.) */
__attribute__((noinline)) static void pairs_block(mutex_fn lock, mutex_fn unlock, long pairs) {
  for (long i = 0; i < pairs; i++) {
    lock(&g_m);
    g_counter++;
    unlock(&g_m);
  }
}

static void direct_block(long pairs) { pairs_block(g_direct_lock, g_direct_unlock, pairs); }
static void interposed_block(long pairs) {
  pairs_block(g_interposed_lock, g_interposed_unlock, pairs);
}

#if defined(__x86_64__) || defined(__i386__)
/* lfence on both sides keeps the block's instructions between the reads. */
static inline uint64_t ticks(void) {
  uint32_t lo, hi;
  __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi)::"memory");
  return ((uint64_t)hi << 32) | lo;
}
#else
static inline uint64_t ticks(void) { return (uint64_t)now_ns(); }
#endif

static int compare_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* q-quantile of sorted v[0..n-1], linear between neighbours. */
static double quantile(const double *v, long n, double q) {
  double pos = q * (double)(n - 1);
  long i = (long)pos;
  if (i + 1 >= n) return v[n - 1];
  return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static double median_of(double *v, long n) {
  qsort(v, (size_t)n, sizeof *v, compare_double);
  return quantile(v, n, 0.5);
}

static int paired(const char *mode, long pairs, long block_pairs) {
  if (find_glibc_mutex_functions() != 0) {
    fprintf(stderr, "lock_bench: glibc's pthread_mutex_lock/unlock not found: %s\n", dlerror());
    return 1;
  }
  long blocks = pairs / block_pairs;
  if (blocks < 2) {
    fprintf(stderr, "lock_bench: PAIRS must be at least 2 x BLOCK_PAIRS\n");
    return 2;
  }
  double *direct = malloc(sizeof(double) * (size_t)blocks);
  double *interposed = malloc(sizeof(double) * (size_t)blocks);
  double *diff = malloc(sizeof(double) * (size_t)blocks);
  if (!direct || !interposed || !diff) {
    fprintf(stderr, "lock_bench: out of memory\n");
    return 1;
  }
  int nthreads_seen = threads_in_process();
  for (long b = 0; b < blocks / 10 + 1; b++) { /* warm-up: caches, predictors, lazy binding */
    direct_block(block_pairs);
    interposed_block(block_pairs);
  }
  int64_t ns0 = now_ns();
  uint64_t tk0 = ticks();
  for (long b = 0; b < blocks; b++) {
    uint64_t t0, t1, t2;
    if (b & 1) {
      t0 = ticks();
      interposed_block(block_pairs);
      t1 = ticks();
      direct_block(block_pairs);
      t2 = ticks();
      interposed[b] = (double)(t1 - t0);
      direct[b] = (double)(t2 - t1);
    } else {
      t0 = ticks();
      direct_block(block_pairs);
      t1 = ticks();
      interposed_block(block_pairs);
      t2 = ticks();
      direct[b] = (double)(t1 - t0);
      interposed[b] = (double)(t2 - t1);
    }
  }
  uint64_t tk1 = ticks();
  int64_t ns1 = now_ns();
  /* ns per pair for a block's tick count */
  double scale = (double)(ns1 - ns0) / (double)(tk1 - tk0) / (double)block_pairs;
  for (long b = 0; b < blocks; b++) {
    direct[b] *= scale;
    interposed[b] *= scale;
    diff[b] = interposed[b] - direct[b];
  }
  qsort(diff, (size_t)blocks, sizeof *diff, compare_double);
  double d50 = quantile(diff, blocks, 0.5), d25 = quantile(diff, blocks, 0.25),
         d75 = quantile(diff, blocks, 0.75);
  double i50 = median_of(interposed, blocks), x50 = median_of(direct, blocks);
  int same = g_interposed_lock == g_direct_lock && g_interposed_unlock == g_direct_unlock;
  printf("mode=%s blocks=%ld block_pairs=%ld diff_ns_per_pair=%.4f diff_p25=%.4f diff_p75=%.4f "
         "interposed_ns_per_pair=%.4f direct_ns_per_pair=%.4f same_function=%d "
         "threads_in_process=%d\n",
         mode, blocks, block_pairs, d50, d25, d75, i50, x50, same, nthreads_seen);
  free(direct);
  free(interposed);
  free(diff);
  return 0;
}

struct worker {
  long pairs;
  long contended;
  pthread_barrier_t *start;
};

static void *contended_worker(void *p) {
  struct worker *w = p;
  uint64_t x = (uint64_t)(uintptr_t)p | 1;
  pthread_barrier_wait(w->start);
  for (long i = 0; i < w->pairs; i++) {
    if (pthread_mutex_trylock(&g_m) != 0) {
      w->contended++;
      pthread_mutex_lock(&g_m);
    }
    /* short critical section */
    uint64_t c = g_counter;
    x = work(x + c, g_work);
    g_counter = c + (x >> 63) + 1;
    pthread_mutex_unlock(&g_m);
    x = work(x, g_work); /* outside the lock */
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: lock_bench uncontended|uncontended-mt|contended PAIRS [THREADS [WORK]]\n"
            "       lock_bench paired|paired-mt PAIRS [BLOCK_PAIRS]\n");
    return 2;
  }
  const char *mode = argv[1];
  long pairs = atol(argv[2]);
  if (strcmp(mode, "paired") == 0 || strcmp(mode, "paired-mt") == 0) {
    long block_pairs = argc > 3 ? atol(argv[3]) : 1000;
    if (pairs <= 0 || block_pairs <= 0) {
      fprintf(stderr, "lock_bench: bad PAIRS or BLOCK_PAIRS\n");
      return 2;
    }
    if (strcmp(mode, "paired-mt") == 0) {
      pthread_t t;
      pthread_create(&t, NULL, nothing, NULL);
      pthread_join(t, NULL);
    }
    return paired(mode, pairs, block_pairs);
  }
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  if (argc > 4) g_work = atoi(argv[4]);
  if (pairs <= 0 || threads < 1 || threads > 256 || g_work < 0) {
    fprintf(stderr, "lock_bench: bad PAIRS, THREADS or WORK\n");
    return 2;
  }
  int64_t t0, t1, c0 = 0, c1 = 0;
  long total = pairs, contended = -1;
  int nthreads_seen;
  if (strcmp(mode, "uncontended") == 0 || strcmp(mode, "uncontended-mt") == 0) {
    if (strcmp(mode, "uncontended-mt") == 0) {
      pthread_t t;
      pthread_create(&t, NULL, nothing, NULL);
      pthread_join(t, NULL);
    }
    threads = 1;
    nthreads_seen = threads_in_process();
    uncontended_loop(pairs / 100 + 1); /* warm-up */
    t0 = now_ns();
    c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uncontended_loop(pairs);
    c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    t1 = now_ns();
  } else if (strcmp(mode, "contended") == 0) {
    pthread_t tid[256];
    struct worker w[256];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
      w[i].pairs = pairs;
      w[i].contended = 0;
      w[i].start = &start;
      pthread_create(&tid[i], NULL, contended_worker, &w[i]);
    }
    nthreads_seen = threads_in_process();
    t0 = now_ns();
    pthread_barrier_wait(&start);
    contended = 0;
    for (int i = 0; i < threads; i++) {
      pthread_join(tid[i], NULL);
      contended += w[i].contended;
    }
    t1 = now_ns();
    total = pairs * threads;
  } else {
    fprintf(stderr, "lock_bench: unknown mode %s\n", mode);
    return 2;
  }
  double wall = (double)(t1 - t0) / (double)total;
  double ns = c1 > c0 ? (double)(c1 - c0) / (double)total : wall;
  printf("mode=%s threads=%d pairs=%ld ns_per_pair=%.3f threads_in_process=%d", mode, threads,
         total, ns, nthreads_seen);
  if (c1 > c0) printf(" wall_ns_per_pair=%.3f", wall);
  if (contended >= 0) printf(" contended=%ld", contended);
  printf("\n");
  return 0;
}
