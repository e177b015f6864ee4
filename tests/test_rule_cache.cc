// The unwind rule cache (unwind/rule_cache.h): what is stored is found under
// its pc and its module's generation only, and concurrent writers and readers on several
// threads, interrupted by signal handlers that use the same entries, never
// see a rule other than the one stored for that pc.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <pthread.h>
#include <sys/time.h>
#include <thread>
#include <vector>

#include "unwind/rule_cache.h"

namespace ppagent {
namespace {

// Every field depends on the pc, so a rule torn between two pcs is noticed.
FrameRule rule_for(uintptr_t pc) {
  FrameRule rule{};
  rule.pc_offset = static_cast<uint32_t>(pc >> 3);
  rule.cfa_base = static_cast<FrameRule::CfaBase>(1 + pc % 4);
  rule.fp_offset = static_cast<int16_t>(pc * 3);
  rule.cfa_offset = static_cast<int32_t>(pc * 7);
  rule.ra_offset = -static_cast<int32_t>(pc % 1000);
  return rule;
}

bool same(const FrameRule& a, const FrameRule& b) {
  return a.pc_offset == b.pc_offset && a.cfa_base == b.cfa_base && a.fp_offset == b.fp_offset &&
         a.cfa_offset == b.cfa_offset && a.ra_offset == b.ra_offset;
}

TEST(RuleCache, FindsWhatWasStoredUnderItsPcAndGeneration) {
  RuleCache cache(64);
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ(cache.mapped_bytes(), 64 * 32u);
  FrameRule rule;
  EXPECT_FALSE(cache.lookup(0x401000, 1, &rule));  // empty
  cache.store(0x401000, 1, rule_for(0x401000));
  ASSERT_TRUE(cache.lookup(0x401000, 1, &rule));
  EXPECT_TRUE(same(rule, rule_for(0x401000)));
  EXPECT_FALSE(cache.lookup(0x401000, 2, &rule));  // another generation
  EXPECT_FALSE(cache.lookup(0x401001, 1, &rule));  // another pc
  // A kNone rule is cached like any other (a pc known to have none).
  FrameRule none{};
  none.cfa_base = FrameRule::kNone;
  cache.store(0x402000, 1, none);
  ASSERT_TRUE(cache.lookup(0x402000, 1, &rule));
  EXPECT_EQ(rule.cfa_base, FrameRule::kNone);
}

TEST(RuleCache, ExtremeFieldValuesSurvive) {
  RuleCache cache(16);
  FrameRule rule{};
  rule.pc_offset = UINT32_MAX;
  rule.cfa_base = FrameRule::kOutermost;
  rule.fp_offset = FrameRule::kFpUnchanged;
  rule.cfa_offset = INT32_MIN;
  rule.ra_offset = INT32_MAX;
  cache.store(~uintptr_t{0}, UINT32_MAX, rule);
  FrameRule got;
  ASSERT_TRUE(cache.lookup(~uintptr_t{0}, UINT32_MAX, &got));
  EXPECT_TRUE(same(got, rule));
}

TEST(RuleCache, TheProcessCacheIsMappedOnce) {
  ensure_rule_cache();
  RuleCache* cache = rule_cache();
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->mapped_bytes(), RuleCache::kDefaultEntries * 32);
  ensure_rule_cache();
  EXPECT_EQ(rule_cache(), cache);
}

// Many pcs on few entries, so that writers keep replacing each other's rules.
constexpr size_t kEntries = 16;
constexpr uintptr_t kPcs = 64;
RuleCache* g_cache;
std::atomic<long> g_hits, g_wrong, g_signals;

uint64_t next_random(uint64_t* state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

void use_cache(uint64_t* random, int rounds) {
  for (int i = 0; i < rounds; i++) {
    const uintptr_t pc = 0x400000 + next_random(random) % kPcs;
    FrameRule rule;
    if (g_cache->lookup(pc, 1, &rule)) {
      g_hits.fetch_add(1, std::memory_order_relaxed);
      if (!same(rule, rule_for(pc))) g_wrong.fetch_add(1, std::memory_order_relaxed);
    } else {
      g_cache->store(pc, 1, rule_for(pc));
    }
  }
}

// Interrupts a thread, perhaps in the middle of a store to the entry it uses.
void on_sigprof(int) {
  const int saved_errno = errno;
  g_signals.fetch_add(1, std::memory_order_relaxed);
  uint64_t random = reinterpret_cast<uintptr_t>(&random) | 1;
  use_cache(&random, 64);
  errno = saved_errno;
}

TEST(RuleCache, ConcurrentWritersAndReadersUnderSignalsSeeOnlyStoredRules) {
  RuleCache cache(kEntries);
  ASSERT_TRUE(cache.ok());
  g_cache = &cache;
  g_hits = 0;
  g_wrong = 0;
  g_signals = 0;
  struct sigaction action = {};
  action.sa_handler = on_sigprof;
  action.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGPROF, &action, nullptr), 0);
  struct itimerval timer = {{0, 500}, {0, 500}};
  ASSERT_EQ(setitimer(ITIMER_PROF, &timer, nullptr), 0);

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([t] {
      uint64_t random = 0x9e3779b97f4a7c15ull * (t + 1);
      use_cache(&random, 5000000);
    });
  for (auto& thread : threads) thread.join();

  struct itimerval off = {};
  setitimer(ITIMER_PROF, &off, nullptr);
  signal(SIGPROF, SIG_DFL);
  printf("%ld hits, %ld wrong, %ld signals\n", g_hits.load(), g_wrong.load(), g_signals.load());
  EXPECT_GT(g_hits.load(), 100000);
  EXPECT_EQ(g_wrong.load(), 0);
}

}  // namespace
}  // namespace ppagent
