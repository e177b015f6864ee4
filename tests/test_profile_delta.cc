// The seconds=N deltas: second snapshot minus first, per the profile's key.
#include "pprof/profile_delta.h"

#include <gtest/gtest.h>

namespace ppagent {
namespace {

HeapBucketSnapshot bucket(std::vector<uintptr_t> stack, uint64_t size, uint64_t allocs,
                          uint64_t frees) {
  return HeapBucketSnapshot{std::move(stack), size, allocs, allocs * size, frees, frees * size};
}

TEST(HeapDelta, SubtractsPerStackAndSize) {
  std::vector<HeapBucketSnapshot> before = {bucket({1, 2}, 64, 10, 4), bucket({1, 2}, 128, 3, 0),
                                            bucket({7}, 32, 5, 5)};
  std::vector<HeapBucketSnapshot> after = {bucket({1, 2}, 64, 15, 4), bucket({1, 2}, 128, 3, 2),
                                           bucket({7}, 32, 5, 5), bucket({9}, 16, 2, 0)};
  std::vector<HeapBucketSnapshot> delta = heap_delta(before, after);
  ASSERT_EQ(delta.size(), 3u);  // {7}/32 did nothing in the window: dropped
  for (const HeapBucketSnapshot& b : delta) {
    if (b.stack == std::vector<uintptr_t>{1, 2} && b.size == 64) {
      EXPECT_EQ(b.alloc_count, 5u);
      EXPECT_EQ(b.alloc_bytes, 5u * 64);
      EXPECT_EQ(b.free_count, 0u);
    } else if (b.stack == std::vector<uintptr_t>{1, 2} && b.size == 128) {
      // Only frees of blocks allocated before the window.
      EXPECT_EQ(b.alloc_count, 0u);
      EXPECT_EQ(b.free_count, 2u);
      EXPECT_EQ(b.free_bytes, 256u);
    } else {
      EXPECT_EQ(b.stack, std::vector<uintptr_t>{9});  // new in the window: all of it
      EXPECT_EQ(b.alloc_count, 2u);
    }
  }
}

TEST(HeapDelta, EmptyWindowIsEmpty) {
  std::vector<HeapBucketSnapshot> same = {bucket({1}, 8, 3, 1)};
  EXPECT_TRUE(heap_delta(same, same).empty());
  EXPECT_EQ(heap_delta({}, same).size(), 1u);
}

TEST(ContentionDelta, SubtractsPerStackMergingDuplicates) {
  std::vector<ContentionSnapshot> before = {{{1, 2}, 3, 300}, {{5}, 1, 10}};
  std::vector<ContentionSnapshot> after = {
      {{1, 2}, 4, 350}, {{1, 2}, 1, 50}, {{5}, 1, 10}, {{6}, 2, 20}};
  std::vector<ContentionSnapshot> delta = contention_delta(before, after);
  ASSERT_EQ(delta.size(), 2u);
  EXPECT_EQ(delta[0].stack, (std::vector<uintptr_t>{1, 2}));
  EXPECT_EQ(delta[0].count, 2);
  EXPECT_EQ(delta[0].delay_ns, 100);
  EXPECT_EQ(delta[1].stack, std::vector<uintptr_t>{6});
  EXPECT_EQ(delta[1].count, 2);
}

ThreadGroup group(std::vector<uintptr_t> stack, std::string name, std::vector<pid_t> tids) {
  ThreadGroup g;
  g.stack = std::move(stack);
  g.thread_name = std::move(name);
  g.tids = std::move(tids);
  g.count = static_cast<int64_t>(g.tids.size());
  return g;
}

TEST(ThreadGroupDelta, CountsPerStackAndName) {
  std::vector<ThreadGroup> before = {group({1}, "worker", {10, 11}), group({2}, "io", {20}),
                                     group({3}, "main", {1})};
  std::vector<ThreadGroup> after = {group({1}, "worker", {10, 11, 12}), group({3}, "main", {1}),
                                    group({1}, "other", {30})};
  std::vector<ThreadGroup> delta = thread_group_delta(before, after);
  ASSERT_EQ(delta.size(), 3u);
  for (const ThreadGroup& g : delta) {
    if (g.thread_name == "worker") {
      EXPECT_EQ(g.count, 1);
    } else if (g.thread_name == "io") {
      EXPECT_EQ(g.count, -1);  // the thread ended during the window
      EXPECT_EQ(g.tids, std::vector<pid_t>{20});
    } else {
      EXPECT_EQ(g.thread_name, "other");  // same stack as worker, other name: its own group
      EXPECT_EQ(g.count, 1);
    }
  }
}

TEST(CpuDelta, SubtractsPerThreadAndStack) {
  std::vector<CpuTrace> before = {{1, "main", {1, 2}, 10, 12}, {2, "w", {3}, 5, 5}};
  std::vector<CpuTrace> after = {{1, "main", {1, 2}, 25, 30}, {2, "w", {3}, 5, 5},
                                 {1, "main", {4}, 3, 3}, {3, "w", {3}, 7, 7}};
  std::vector<CpuTrace> delta = cpu_delta(before, after);
  ASSERT_EQ(delta.size(), 3u);
  EXPECT_EQ(delta[0].tid, 1);
  EXPECT_EQ(delta[0].stack, (std::vector<uintptr_t>{1, 2}));
  EXPECT_EQ(delta[0].samples, 15u);
  EXPECT_EQ(delta[0].weight, 18u);
  EXPECT_EQ(delta[1].stack, std::vector<uintptr_t>{4});
  EXPECT_EQ(delta[2].tid, 3);  // same stack as tid 2, another thread
  EXPECT_EQ(delta[2].samples, 7u);
}

}  // namespace
}  // namespace ppagent
