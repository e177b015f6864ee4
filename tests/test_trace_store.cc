#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "record/trace_store.h"

namespace ppagent {
namespace {

TraceKey key_of(int tid, const char* name, const std::vector<uintptr_t>& pcs) {
  TraceKey k;
  k.tid = tid;
  memset(k.thread_name, 0, sizeof k.thread_name);
  strncpy(k.thread_name, name, sizeof k.thread_name - 1);
  k.pcs = pcs.data();
  k.depth = static_cast<int>(pcs.size());
  return k;
}

std::map<std::vector<uintptr_t>, std::pair<uint64_t, uint64_t>> contents(const TraceStore& store) {
  std::map<std::vector<uintptr_t>, std::pair<uint64_t, uint64_t>> out;
  store.for_each([&](const TraceKey& k, uint64_t weight, uint64_t samples) {
    auto& e = out[std::vector<uintptr_t>(k.pcs, k.pcs + k.depth)];
    e.first += weight;
    e.second += samples;
  });
  return out;
}

TEST(TraceStore, SameTraceAccumulatesWeightAndSamples) {
  TraceStore store(1024, 4096);
  ASSERT_TRUE(store.ok());
  std::vector<uintptr_t> a = {1, 2, 3}, b = {1, 2, 4};
  EXPECT_TRUE(store.add(key_of(7, "main", a), 1));
  EXPECT_TRUE(store.add(key_of(7, "main", a), 4));
  EXPECT_TRUE(store.add(key_of(7, "main", b), 2));
  auto c = contents(store);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[a].first, 5u);
  EXPECT_EQ(c[a].second, 2u);
  EXPECT_EQ(c[b].first, 2u);
  EXPECT_EQ(store.dropped_samples(), 0u);
}

TEST(TraceStore, AddToSlotAddsToTheTraceAddStored) {
  TraceStore store(1024, 4096);
  std::vector<uintptr_t> a = {1, 2, 3}, b = {1, 2, 4};
  size_t slot_a = TraceStore::kNoSlot, slot_b = TraceStore::kNoSlot, again = TraceStore::kNoSlot;
  EXPECT_TRUE(store.add(key_of(7, "main", a), 1, 1, &slot_a));
  EXPECT_TRUE(store.add(key_of(7, "main", b), 2, 1, &slot_b));
  EXPECT_TRUE(store.add(key_of(7, "main", a), 3, 1, &again));
  ASSERT_NE(slot_a, TraceStore::kNoSlot);
  EXPECT_NE(slot_a, slot_b);
  EXPECT_EQ(again, slot_a);
  store.add_to_slot(slot_a, 10, 2);
  store.add_to_slot(slot_b, 20);
  auto c = contents(store);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[a].first, 14u);
  EXPECT_EQ(c[a].second, 4u);
  EXPECT_EQ(c[b].first, 22u);
  EXPECT_EQ(c[b].second, 2u);
}

TEST(TraceStore, ThreadAndNameArePartOfTheKey) {
  TraceStore store(1024, 4096);
  std::vector<uintptr_t> a = {1, 2, 3};
  store.add(key_of(7, "main", a), 1);
  store.add(key_of(8, "main", a), 1);
  store.add(key_of(7, "worker", a), 1);
  int entries = 0;
  store.for_each([&](const TraceKey&, uint64_t, uint64_t) { entries++; });
  EXPECT_EQ(entries, 3);
}

TEST(TraceStore, FullStoreDropsAndCounts) {
  TraceStore store(4, 1 << 20);  // 4 slots
  for (uintptr_t i = 1; i <= 10; i++) store.add(key_of(1, "t", {i}), 3);
  EXPECT_EQ(contents(store).size(), 4u);
  EXPECT_EQ(store.dropped_samples(), 6u);
  EXPECT_EQ(store.dropped_weight(), 18u);
  size_t slot = 0;
  EXPECT_FALSE(store.add(key_of(1, "t", {11}), 3, 1, &slot));
  EXPECT_EQ(slot, TraceStore::kNoSlot);
}

TEST(TraceStore, FrameSpaceExhaustionDropsAndCounts) {
  TraceStore store(1024, 10);
  std::vector<uintptr_t> six = {1, 2, 3, 4, 5, 6}, six_b = {7, 2, 3, 4, 5, 6};
  EXPECT_TRUE(store.add(key_of(1, "t", six), 1));
  EXPECT_FALSE(store.add(key_of(1, "t", six_b), 1));
  EXPECT_EQ(store.dropped_samples(), 1u);
  EXPECT_EQ(contents(store).size(), 1u);
}

TEST(TraceStore, ConcurrentAddsLoseNothing) {
  TraceStore store(1 << 12, 1 << 16);
  constexpr int kThreads = 4, kAdds = 200000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&store] {
      for (int i = 0; i < kAdds; i++) {
        std::vector<uintptr_t> pcs = {static_cast<uintptr_t>(i % 50), 99};
        store.add(key_of(1, "t", pcs), 2);
      }
    });
  for (auto& t : threads) t.join();
  auto c = contents(store);
  EXPECT_EQ(c.size(), 50u);
  uint64_t weight = 0, samples = 0;
  for (auto& [k, v] : c) {
    weight += v.first;
    samples += v.second;
  }
  EXPECT_EQ(samples, static_cast<uint64_t>(kThreads) * kAdds);
  EXPECT_EQ(weight, 2u * kThreads * kAdds);
}

}  // namespace
}  // namespace ppagent
