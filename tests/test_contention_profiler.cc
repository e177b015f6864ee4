// The mutex/block accounting on its own: a waiter's time is charged to the
// release that ended it, once, and to the waiter's own wait in the block
// profile.
#include <gtest/gtest.h>

#include <thread>
#include <time.h>

#include "record/contention_profiler.h"
#include "unwind/caller_stack.h"

namespace ppagent {
namespace {

void sleep_ms(int ms) {
  struct timespec d = {0, ms * 1000000L};
  nanosleep(&d, nullptr);
}

int64_t total_delay(const std::vector<ContentionSnapshot>& s) {
  int64_t sum = 0;
  for (const auto& e : s) sum += e.delay_ns;
  return sum;
}

int64_t total_count(const std::vector<ContentionSnapshot>& s) {
  int64_t sum = 0;
  for (const auto& e : s) sum += e.count;
  return sum;
}

TEST(ContentionProfiler, ReleasesChargeEachMomentOfWaitingOnce) {
  ModuleTables tables;
  tables.refresh(true);
  init_caller_stack();
  ContentionProfiler::start(1, 1, &tables);
  int lock_object = 0;
  const void* lock = &lock_object;

  // Two waiters on one lock; two releases while they wait, 20 ms apart.
  ContentionProfiler::Wait a = ContentionProfiler::begin_wait(lock);
  ContentionProfiler::Wait b = ContentionProfiler::begin_wait(lock);
  EXPECT_TRUE(a.tracked && b.tracked);
  EXPECT_EQ(g_lock_waiters.load(), 2);
  sleep_ms(20);
  ContentionProfiler::record_release(ContentionProfiler::charge_release(lock));  // ~2 x 20 ms
  sleep_ms(20);
  ContentionProfiler::record_release(ContentionProfiler::charge_release(lock));  // ~2 x 20 ms more
  ContentionProfiler::end_wait(lock, a, true);
  ContentionProfiler::end_wait(lock, b, true);
  EXPECT_EQ(g_lock_waiters.load(), 0);
  EXPECT_EQ(ContentionProfiler::charge_release(lock), 0);  // no waiters: nothing

  auto mutex = ContentionProfiler::snapshot_mutex();
  EXPECT_EQ(total_count(mutex), 2);
  int64_t charged = total_delay(mutex);
  EXPECT_GE(charged, 80000000);   // 2 waiters x 40 ms
  EXPECT_LT(charged, 120000000);  // and not 2 x (20 + 40) = 120 ms

  auto block = ContentionProfiler::snapshot_block();
  EXPECT_EQ(total_count(block), 2);
  EXPECT_GE(total_delay(block), 80000000);
  EXPECT_GE(charged, total_delay(block) * 9 / 10);  // what the releases ended ~ what was waited
}

}  // namespace
}  // namespace ppagent
