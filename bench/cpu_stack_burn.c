/* cpu_stack_burn: deterministic CPU-bound workload for the ppagent CPU-profiling benchmark.
 *
 * usage: cpu_stack_burn [THREADS [WORK]]
 *   THREADS  number of worker threads (default 1), 1..256
 *   WORK     work per thread, in units of 1,000,000 loop iterations (default 1000)
 *
 * Each worker thread does exactly the same fixed amount of work (not a fixed time), so the
 * CPU time of a run only changes with what runs alongside it (e.g. a profiler).  The hot loop
 * runs at the bottom of a 30-frame call chain made of distinct, non-inlined functions:
 *
 *   worker_main -> chain_01 -> chain_02 -> ... -> chain_28 -> burn_leaf   (30 frames)
 *
 * (plus start_thread/clone3 from glibc above worker_main).  The work is split into chunks of
 * one unit; the chain is walked once per chunk so the unwinder always sees the full depth
 * while almost all time is spent in burn_leaf.  None of the calls is a tail call: every level
 * adds to the value returned from below, and an empty asm barrier keeps the compiler from
 * merging or flattening the levels.
 *
 * The program prints one line: threads, work, and a checksum (so the work cannot be elided).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_ITERATIONS 1000000ULL

#define NOINLINE __attribute__((noinline, noclone))
#define BARRIER(x) __asm__ volatile("" : "+r"(x))

/* The leaf: a dependent chain of integer mixing (xorshift-multiply), so the loop cannot be
 * vectorised or computed in closed form. */
NOINLINE static uint64_t burn_leaf(uint64_t seed, uint64_t iterations)
{
    uint64_t x = seed | 1;
    for (uint64_t i = 0; i < iterations; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x *= 0x2545F4914F6CDD1DULL;
        BARRIER(x);
    }
    return x;
}

/* chain_NN calls chain_(NN+1); the last one calls burn_leaf. */
#define CHAIN_LEVEL(n, next)                                             \
    NOINLINE static uint64_t chain_##n(uint64_t seed, uint64_t iters)   \
    {                                                                    \
        uint64_t r = next(seed + 0x##n, iters);                          \
        BARRIER(r);                                                      \
        return r + 0x##n;                                                \
    }

CHAIN_LEVEL(28, burn_leaf)
CHAIN_LEVEL(27, chain_28)
CHAIN_LEVEL(26, chain_27)
CHAIN_LEVEL(25, chain_26)
CHAIN_LEVEL(24, chain_25)
CHAIN_LEVEL(23, chain_24)
CHAIN_LEVEL(22, chain_23)
CHAIN_LEVEL(21, chain_22)
CHAIN_LEVEL(20, chain_21)
CHAIN_LEVEL(19, chain_20)
CHAIN_LEVEL(18, chain_19)
CHAIN_LEVEL(17, chain_18)
CHAIN_LEVEL(16, chain_17)
CHAIN_LEVEL(15, chain_16)
CHAIN_LEVEL(14, chain_15)
CHAIN_LEVEL(13, chain_14)
CHAIN_LEVEL(12, chain_13)
CHAIN_LEVEL(11, chain_12)
CHAIN_LEVEL(10, chain_11)
CHAIN_LEVEL(09, chain_10)
CHAIN_LEVEL(08, chain_09)
CHAIN_LEVEL(07, chain_08)
CHAIN_LEVEL(06, chain_07)
CHAIN_LEVEL(05, chain_06)
CHAIN_LEVEL(04, chain_05)
CHAIN_LEVEL(03, chain_04)
CHAIN_LEVEL(02, chain_03)
CHAIN_LEVEL(01, chain_02)

struct worker {
    pthread_t thread;
    unsigned index;
    uint64_t units;
    uint64_t result;
};

/* Frame 1 of the 30 (below glibc's start_thread). */
NOINLINE static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t acc = 0x9E3779B97F4A7C15ULL * (w->index + 1);
    for (uint64_t u = 0; u < w->units; u++) {
        acc = chain_01(acc, UNIT_ITERATIONS);
        BARRIER(acc);
    }
    w->result = acc;
    return NULL;
}

static unsigned long parse_ulong(const char *s, const char *what, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "cpu_stack_burn: %s=\"%s\" is not valid (expected an integer from %lu to %lu)\n",
                what, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: %s [THREADS [WORK]]\n"
                        "  THREADS  worker threads (default 1)\n"
                        "  WORK     work per thread in millions of loop iterations (default 1000)\n",
                argv[0]);
        return argc > 3 ? 2 : 0;
    }
    unsigned long nthreads = argc > 1 ? parse_ulong(argv[1], "THREADS", 1, 256) : 1;
    unsigned long units = argc > 2 ? parse_ulong(argv[2], "WORK", 1, 100000000UL) : 1000;

    struct worker *workers = calloc(nthreads, sizeof *workers);
    if (!workers) {
        perror("cpu_stack_burn: calloc");
        return 1;
    }
    /* Always run the work on created threads (also for THREADS=1), so every configuration
     * exercises the profiler's thread registration the same way; main only waits. */
    for (unsigned long i = 0; i < nthreads; i++) {
        workers[i].index = (unsigned)i;
        workers[i].units = units;
        int err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (err != 0) {
            fprintf(stderr, "cpu_stack_burn: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    uint64_t checksum = 0;
    for (unsigned long i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        checksum ^= workers[i].result;
    }
    printf("threads=%lu work=%lu checksum=%016llx\n", nthreads, units, (unsigned long long)checksum);
    free(workers);
    return 0;
}
