// The handler-time unwinder against libunwind, the reference: at thousands
// of random points (SIGPROF from a CPU timer) in code with varied frames,
// both walk the interrupted context and must agree frame for frame.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <pthread.h>
#include <sys/time.h>
#include <ucontext.h>

#include "reference_walk.h"
#include "unwind/stack_walker.h"

namespace ppagent {
namespace {

constexpr int kDepth = 64;
ModuleTables* g_tables;
StackBounds g_main_bounds;  // the test thread's stack: direct, bounded reads
std::atomic<int> g_samples, g_agree, g_ours_shorter, g_disagree;
char g_first_disagreement[512];

void on_signal(int, siginfo_t*, void* raw) {
  auto* context = static_cast<ucontext_t*>(raw);
  uintptr_t ours[kDepth], theirs[kDepth];
  // Every other sample without bounds, to exercise the fault-safe reads too.
  int n_ours = g_tables->walk(context, (g_samples & 1) ? StackBounds{} : g_main_bounds, ours, kDepth);
  int n_theirs = reference_walk(context, theirs, kDepth);
  g_samples++;
  int common = 0;
  while (common < n_ours && common < n_theirs && ours[common] == theirs[common]) common++;
  if (common == n_theirs && common == n_ours) {
    g_agree++;
  } else if (common == n_ours) {
    g_ours_shorter++;
  } else {
    if (g_disagree++ == 0)
      snprintf(g_first_disagreement, sizeof g_first_disagreement,
               "frame %d: ours %#lx theirs %#lx (depths %d/%d)", common,
               common < n_ours ? ours[common] : 0UL, common < n_theirs ? theirs[common] : 0UL,
               n_ours, n_theirs);
  }
}

volatile uint64_t g_sink;

__attribute__((noinline)) uint64_t leaf_math(uint64_t x) {
  for (int i = 0; i < 200; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

int compare_ints(const void* a, const void* b) {
  int x = *static_cast<const int*>(a), y = *static_cast<const int*>(b);
  return (x > y) - (x < y);
}

__attribute__((noinline)) uint64_t with_alloca(int n) {
  // A variable-size frame makes gcc use rbp as the CFA register.
  volatile char* buf = static_cast<volatile char*>(alloca(16 + n));
  buf[0] = static_cast<char>(n);
  return leaf_math(buf[0]);
}

__attribute__((noinline)) uint64_t recurse(int depth) {
  if (depth == 0) {
    int values[64];
    for (int i = 0; i < 64; i++) values[i] = static_cast<int>(leaf_math(i) & 0xffff);
    qsort(values, 64, sizeof values[0], compare_ints);  // frames inside libc
    char a[256], b[256];
    memset(a, values[3] & 0x7f, sizeof a);
    memcpy(b, a, sizeof b);
    return b[7] + with_alloca(values[5] & 63);
  }
  uint64_t r = recurse(depth - 1) + static_cast<uint64_t>(depth);
  g_sink = r;
  return r;
}

TEST(StackWalker, AgreesWithLibunwindAtRandomPoints) {
  ModuleTables tables;
  tables.refresh(true);
  ASSERT_GE(tables.module_count(), 3u);  // the test, libc, libstdc++ at least
  g_tables = &tables;
  pthread_attr_t attr;
  ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  void* low;
  size_t size;
  ASSERT_EQ(pthread_attr_getstack(&attr, &low, &size), 0);
  pthread_attr_destroy(&attr);
  g_main_bounds.low = reinterpret_cast<uintptr_t>(low);
  g_main_bounds.high = g_main_bounds.low + size;

  struct sigaction action = {};
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  ASSERT_EQ(sigaction(SIGPROF, &action, nullptr), 0);
  struct itimerval timer = {{0, 997}, {0, 997}};
  ASSERT_EQ(setitimer(ITIMER_PROF, &timer, nullptr), 0);

  struct timespec start, now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
  do {
    for (int d = 1; d < 24; d += 3) g_sink = recurse(d);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 2000000000L);

  struct itimerval off = {};
  setitimer(ITIMER_PROF, &off, nullptr);
  signal(SIGPROF, SIG_DFL);

  int samples = g_samples.load();
  printf("samples %d, identical %d, ours shorter %d, different %d\n", samples, g_agree.load(),
         g_ours_shorter.load(), g_disagree.load());
  ASSERT_GT(samples, 200);
  // Never a wrong frame; a shorter walk only where libunwind goes on through
  // frames we have no rule for (rare), and complete agreement almost always.
  EXPECT_EQ(g_disagree.load(), 0) << g_first_disagreement;
  EXPECT_GE(g_agree.load(), samples * 99 / 100)
      << "agree " << g_agree << ", ours shorter " << g_ours_shorter << " of " << samples;
}

TEST(StackWalker, WalkFromGetcontextReachesMain) {
  ModuleTables tables;
  tables.refresh(true);
  ucontext_t context;
  getcontext(&context);
  uintptr_t ours[kDepth], theirs[kDepth];
  int n_ours = tables.walk(&context, StackBounds{}, ours, kDepth);
  int n_theirs = reference_walk(&context, theirs, kDepth);
  ASSERT_GT(n_ours, 3);
  ASSERT_EQ(n_ours, n_theirs);
  for (int i = 0; i < n_ours; i++) EXPECT_EQ(ours[i], theirs[i]) << "frame " << i;
}

TEST(StackWalker, DepthCapIsRespected) {
  ModuleTables tables;
  tables.refresh(true);
  ucontext_t context;
  getcontext(&context);
  uintptr_t pcs[2];
  EXPECT_EQ(tables.walk(&context, StackBounds{}, pcs, 2), 2);
}

}  // namespace
}  // namespace ppagent
