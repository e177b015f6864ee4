#include "pprof/profile_delta.h"

#include <map>
#include <tuple>

namespace ppagent {

std::vector<HeapBucketSnapshot> heap_delta(const std::vector<HeapBucketSnapshot>& before,
                                           const std::vector<HeapBucketSnapshot>& after) {
  using Key = std::pair<std::vector<uintptr_t>, uint64_t>;
  std::map<Key, HeapBucketSnapshot> earlier;
  for (const HeapBucketSnapshot& b : before) {
    auto [it, inserted] = earlier.try_emplace(Key{b.stack, b.size}, b);
    if (!inserted) {
      it->second.alloc_count += b.alloc_count;
      it->second.alloc_bytes += b.alloc_bytes;
      it->second.free_count += b.free_count;
      it->second.free_bytes += b.free_bytes;
    }
  }
  std::map<Key, HeapBucketSnapshot> later;
  for (const HeapBucketSnapshot& b : after) {
    auto [it, inserted] = later.try_emplace(Key{b.stack, b.size}, b);
    if (!inserted) {
      it->second.alloc_count += b.alloc_count;
      it->second.alloc_bytes += b.alloc_bytes;
      it->second.free_count += b.free_count;
      it->second.free_bytes += b.free_bytes;
    }
  }
  std::vector<HeapBucketSnapshot> out;
  for (auto& [key, b] : later) {
    auto it = earlier.find(key);
    if (it != earlier.end()) {
      // Counters never decrease; a smaller later value cannot happen, but
      // clamp rather than wrap if it ever did.
      auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
      b.alloc_count = minus(b.alloc_count, it->second.alloc_count);
      b.alloc_bytes = minus(b.alloc_bytes, it->second.alloc_bytes);
      b.free_count = minus(b.free_count, it->second.free_count);
      b.free_bytes = minus(b.free_bytes, it->second.free_bytes);
    }
    if (b.alloc_count == 0 && b.alloc_bytes == 0 && b.free_count == 0 && b.free_bytes == 0)
      continue;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<ContentionSnapshot> contention_delta(const std::vector<ContentionSnapshot>& before,
                                                 const std::vector<ContentionSnapshot>& after) {
  std::map<std::vector<uintptr_t>, std::pair<int64_t, int64_t>> totals;
  for (const ContentionSnapshot& e : after) {
    auto& t = totals[e.stack];
    t.first += e.count;
    t.second += e.delay_ns;
  }
  for (const ContentionSnapshot& e : before) {
    auto& t = totals[e.stack];
    t.first -= e.count;
    t.second -= e.delay_ns;
  }
  std::vector<ContentionSnapshot> out;
  for (const auto& [stack, t] : totals)
    if (t.first != 0 || t.second != 0) out.push_back(ContentionSnapshot{stack, t.first, t.second});
  return out;
}

std::vector<ThreadGroup> thread_group_delta(const std::vector<ThreadGroup>& before,
                                            const std::vector<ThreadGroup>& after) {
  using Key = std::tuple<std::vector<uintptr_t>, std::string, bool>;
  std::map<Key, ThreadGroup> groups;
  for (const ThreadGroup& g : after) {
    auto [it, inserted] = groups.try_emplace(Key{g.stack, g.thread_name, g.answered}, g);
    if (!inserted) {
      it->second.count += g.count;
      it->second.tids.insert(it->second.tids.end(), g.tids.begin(), g.tids.end());
    }
  }
  for (const ThreadGroup& g : before) {
    auto [it, inserted] = groups.try_emplace(Key{g.stack, g.thread_name, g.answered}, g);
    if (inserted) it->second.count = -g.count;  // gone by the second snapshot
    else it->second.count -= g.count;
  }
  std::vector<ThreadGroup> out;
  for (auto& [key, g] : groups)
    if (g.count != 0) out.push_back(std::move(g));
  return out;
}

std::vector<CpuTrace> cpu_delta(const std::vector<CpuTrace>& before,
                                const std::vector<CpuTrace>& after) {
  using Key = std::tuple<int32_t, std::string, std::vector<uintptr_t>>;
  std::map<Key, std::pair<uint64_t, uint64_t>> earlier;  // samples, weight
  for (const CpuTrace& t : before) {
    auto& e = earlier[Key{t.tid, t.thread_name, t.stack}];
    e.first += t.samples;
    e.second += t.weight;
  }
  std::map<Key, CpuTrace> later;
  for (const CpuTrace& t : after) {
    auto [it, inserted] = later.try_emplace(Key{t.tid, t.thread_name, t.stack}, t);
    if (!inserted) {
      it->second.samples += t.samples;
      it->second.weight += t.weight;
    }
  }
  std::vector<CpuTrace> out;
  for (auto& [key, t] : later) {
    auto it = earlier.find(key);
    if (it != earlier.end()) {
      t.samples = t.samples > it->second.first ? t.samples - it->second.first : 0;
      t.weight = t.weight > it->second.second ? t.weight - it->second.second : 0;
    }
    if (t.samples != 0 || t.weight != 0) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace ppagent
