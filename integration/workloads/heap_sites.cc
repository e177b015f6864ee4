// heap_sites QUITFILE
//
// Three allocation sites with known totals, each in its own noinline function
// so that a heap profile can attribute its samples by function name:
//   site_malloc_4k   keeps 64 MiB live: 16384 x malloc(4096)
//   site_new_256     keeps 16 MiB live: 65536 x new char[256]
//   site_churn_1k    allocates and frees 256 MiB: 262144 x malloc(1024), each
//                    freed at once (in-use ~0, alloc space 256 MiB)
// The pointer tables are static (BSS), so no other allocation happens inside
// the site functions. Then it prints "ready" with the totals and waits until
// QUITFILE exists (polling with nanosleep, which allocates nothing), so the test
// can dump the heap by signal while the sites are live. Finally it checks that
// the live blocks still hold what was written, prints "bye ok", and returns
// from main with the blocks still live (the exit heap profile still shows them).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum : size_t {
  kMallocSize = 4096,
  kMallocCount = 16384,  // 64 MiB
  kNewSize = 256,
  kNewCount = 65536,  // 16 MiB
  kChurnSize = 1024,
  kChurnCount = 262144,  // 256 MiB
};

static void *g_malloc_blocks[kMallocCount];
static char *g_new_blocks[kNewCount];
static volatile unsigned char g_sink;

extern "C" {

__attribute__((noinline, noclone)) void site_malloc_4k(void) {
  for (size_t i = 0; i < kMallocCount; i++) {
    void *p = malloc(kMallocSize);
    if (!p) abort();
    memset(p, (int)(i & 0xff), 64);
    g_malloc_blocks[i] = p;
  }
}

__attribute__((noinline, noclone)) void site_new_256(void) {
  for (size_t i = 0; i < kNewCount; i++) {
    char *p = new char[kNewSize];
    p[0] = (char)(i & 0xff);
    p[kNewSize - 1] = (char)((i >> 8) & 0xff);
    g_new_blocks[i] = p;
  }
}

__attribute__((noinline, noclone)) void site_churn_1k(void) {
  for (size_t i = 0; i < kChurnCount; i++) {
    unsigned char *volatile p = (unsigned char *)malloc(kChurnSize);
    if (!p) abort();
    p[0] = (unsigned char)i;
    g_sink = p[0];
    free(p);
  }
}

}  // extern "C"

static int check_blocks(void) {
  for (size_t i = 0; i < kMallocCount; i++) {
    const unsigned char *p = (const unsigned char *)g_malloc_blocks[i];
    for (int j = 0; j < 64; j++)
      if (p[j] != (unsigned char)(i & 0xff)) return 0;
  }
  for (size_t i = 0; i < kNewCount; i++) {
    const char *p = g_new_blocks[i];
    if (p[0] != (char)(i & 0xff) || p[kNewSize - 1] != (char)((i >> 8) & 0xff)) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: heap_sites QUITFILE\n");
    return 2;
  }
  site_malloc_4k();
  site_new_256();
  site_churn_1k();
  printf("site_malloc_4k live_bytes=%zu\n", (size_t)kMallocSize * kMallocCount);
  printf("site_new_256 live_bytes=%zu\n", (size_t)kNewSize * kNewCount);
  printf("site_churn_1k alloc_bytes=%zu\n", (size_t)kChurnSize * kChurnCount);
  printf("ready\n");
  fflush(stdout);
  struct timespec ts = {0, 20 * 1000 * 1000};
  while (access(argv[1], F_OK) != 0) nanosleep(&ts, NULL);
  printf(check_blocks() ? "bye ok\n" : "bye CORRUPT\n");
  return 0;
}
