/* malloc_churn: deterministic malloc-heavy workload for the ppagent heap-profiling benchmark.
 *
 * usage: malloc_churn [THREADS [OPS [WINDOW]]]
 *   THREADS  number of worker threads (default 1), 1..256
 *   OPS      malloc/free pairs per thread (default 20000000), 0..10^12
 *   WINDOW   live blocks per thread (default 1000), 1..10^8
 *
 * Each worker thread first fills a window of WINDOW live blocks, then does OPS replacements:
 * pick a random slot, free the block in it, malloc a new block of a random size from 16 to 2048
 * bytes (uniform) and write its first byte.  Then all threads meet at a barrier, thread 0 reads
 * the process's resident set size (/proc/self/statm) while every window is still full, the
 * threads meet again and free their windows.  Sizes and slots come from a per-thread xorshift64*
 * generator seeded from the thread's index, so every run does exactly the same allocations
 * whatever the allocator or profiler.
 *
 * The work always runs on created threads (also for THREADS=1), as in cpu_stack_burn, so every
 * configuration exercises a profiler's thread handling the same way; main only waits.
 *
 * Output, on stdout:
 *   threads=T ops=N window=W allocs=A bytes=B checksum=C
 *   rss_full_kib=K
 * The first line is the same for every run with the same arguments: A and B are the number and
 * total size of all blocks allocated by the workers (including the initial fill), C mixes the
 * first byte read back from every block before it is freed, so the work cannot be elided and a
 * wrong allocator result would show.  The second line is the resident set size, in KiB, measured
 * with every thread's window full (it varies from run to run and between allocators).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_SIZE 16u
#define MAX_SIZE 2048u

#define NOINLINE __attribute__((noinline, noclone))

struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t ops;
    uint64_t window;
    uint64_t allocs;
    uint64_t bytes;
    uint64_t checksum;
};

static pthread_barrier_t barrier;
static long rss_full_kib = -1;

static inline uint64_t xorshift64star(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Multiply-shift maps a 32-bit random value onto [0, n) without a division. */
static inline uint64_t below(uint64_t r, uint64_t n)
{
    return ((r >> 32) * n) >> 32;
}

static long read_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, resident = -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A distinct, non-inlined function, so profiles show the allocations under one caller. */
NOINLINE static unsigned char *churn_alloc(size_t size, unsigned char tag)
{
    unsigned char *p = malloc(size);
    if (!p) {
        fprintf(stderr, "malloc_churn: malloc(%zu) failed\n", size);
        exit(1);
    }
    p[0] = tag;
    return p;
}

NOINLINE static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t seed = 0x9E3779B97F4A7C15ULL * (w->index + 1) | 1;
    uint64_t allocs = 0, bytes = 0, sum = 0;
    unsigned char **slots = calloc(w->window, sizeof *slots);
    if (!slots) {
        perror("malloc_churn: calloc");
        exit(1);
    }
    for (uint64_t i = 0; i < w->window; i++) {
        uint64_t r = xorshift64star(&seed);
        size_t size = MIN_SIZE + below(r, MAX_SIZE - MIN_SIZE + 1);
        slots[i] = churn_alloc(size, (unsigned char)r);
        allocs++;
        bytes += size;
    }
    for (uint64_t n = 0; n < w->ops; n++) {
        uint64_t r = xorshift64star(&seed);
        uint64_t slot = below(r, w->window);
        size_t size = MIN_SIZE + below(r << 32 | r >> 32, MAX_SIZE - MIN_SIZE + 1);
        unsigned char *old = slots[slot];
        sum = (sum + old[0]) * 0x100000001B3ULL;
        free(old);
        slots[slot] = churn_alloc(size, (unsigned char)(r >> 8));
        allocs++;
        bytes += size;
    }
    /* Every window is full here: one thread measures the resident set. */
    pthread_barrier_wait(&barrier);
    if (w->index == 0)
        rss_full_kib = read_rss_kib();
    pthread_barrier_wait(&barrier);
    for (uint64_t i = 0; i < w->window; i++) {
        sum = (sum + slots[i][0]) * 0x100000001B3ULL;
        free(slots[i]);
    }
    free(slots);
    w->allocs = allocs;
    w->bytes = bytes;
    w->checksum = sum;
    return NULL;
}

static unsigned long long parse_ull(const char *s, const char *what, unsigned long long lo,
                                    unsigned long long hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "malloc_churn: %s=\"%s\" is not valid (expected an integer from %llu to %llu)\n",
                what, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 4 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: %s [THREADS [OPS [WINDOW]]]\n"
                        "  THREADS  worker threads (default 1)\n"
                        "  OPS      malloc/free pairs per thread (default 20000000)\n"
                        "  WINDOW   live blocks per thread (default 1000)\n",
                argv[0]);
        return argc > 4 ? 2 : 0;
    }
    unsigned long nthreads = argc > 1 ? parse_ull(argv[1], "THREADS", 1, 256) : 1;
    uint64_t ops = argc > 2 ? parse_ull(argv[2], "OPS", 0, 1000000000000ULL) : 20000000;
    uint64_t window = argc > 3 ? parse_ull(argv[3], "WINDOW", 1, 100000000ULL) : 1000;

    struct worker *workers = calloc(nthreads, sizeof *workers);
    if (!workers) {
        perror("malloc_churn: calloc");
        return 1;
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    for (unsigned long i = 0; i < nthreads; i++) {
        workers[i].index = (unsigned)i;
        workers[i].ops = ops;
        workers[i].window = window;
        int err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (err != 0) {
            fprintf(stderr, "malloc_churn: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    uint64_t allocs = 0, bytes = 0, checksum = 0;
    for (unsigned long i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        allocs += workers[i].allocs;
        bytes += workers[i].bytes;
        checksum ^= workers[i].checksum + i;
    }
    pthread_barrier_destroy(&barrier);
    printf("threads=%lu ops=%llu window=%llu allocs=%llu bytes=%llu checksum=%016llx\n", nthreads,
           (unsigned long long)ops, (unsigned long long)window, (unsigned long long)allocs,
           (unsigned long long)bytes, (unsigned long long)checksum);
    printf("rss_full_kib=%ld\n", rss_full_kib);
    free(workers);
    return 0;
}
