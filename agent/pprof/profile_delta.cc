#include "pprof/profile_delta.h"

#include <map>
#include <tuple>

namespace ppagent {

namespace {

// A snapshot's records, one per key: the records of one key (a snapshot may
// hold a key twice) are summed into the first with `add`.
template <typename Key, typename Record, typename KeyOf, typename Add>
std::map<Key, Record> sum_by_key(const std::vector<Record>& records, KeyOf key_of, Add add) {
  std::map<Key, Record> sums;
  for (const Record& r : records) {
    auto [it, inserted] = sums.try_emplace(key_of(r), r);
    if (!inserted) add(&it->second, r);
  }
  return sums;
}

// Counters never decrease; a smaller later value cannot happen, but clamp
// rather than wrap if it ever did.
uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

// For records whose counters only grow: per key, the later sum minus the
// earlier one (`subtract`), keeping the records that `changed`. A key only in
// `before` has nothing to show.
template <typename Key, typename Record, typename KeyOf, typename Add, typename Subtract,
          typename Changed>
std::vector<Record> delta_by_key(const std::vector<Record>& before,
                                 const std::vector<Record>& after, KeyOf key_of, Add add,
                                 Subtract subtract, Changed changed) {
  const std::map<Key, Record> earlier = sum_by_key<Key>(before, key_of, add);
  std::vector<Record> out;
  for (auto& [key, record] : sum_by_key<Key>(after, key_of, add)) {
    auto it = earlier.find(key);
    if (it != earlier.end()) subtract(&record, it->second);
    if (changed(record)) out.push_back(std::move(record));
  }
  return out;
}

}  // namespace

std::vector<HeapBucketSnapshot> heap_delta(const std::vector<HeapBucketSnapshot>& before,
                                           const std::vector<HeapBucketSnapshot>& after) {
  using Key = std::pair<std::vector<uintptr_t>, uint64_t>;
  return delta_by_key<Key>(
      before, after, [](const HeapBucketSnapshot& b) { return Key{b.stack, b.size}; },
      [](HeapBucketSnapshot* sum, const HeapBucketSnapshot& b) {
        sum->alloc_count += b.alloc_count;
        sum->alloc_bytes += b.alloc_bytes;
        sum->free_count += b.free_count;
        sum->free_bytes += b.free_bytes;
      },
      [](HeapBucketSnapshot* later, const HeapBucketSnapshot& earlier) {
        later->alloc_count = minus(later->alloc_count, earlier.alloc_count);
        later->alloc_bytes = minus(later->alloc_bytes, earlier.alloc_bytes);
        later->free_count = minus(later->free_count, earlier.free_count);
        later->free_bytes = minus(later->free_bytes, earlier.free_bytes);
      },
      [](const HeapBucketSnapshot& b) {
        return b.alloc_count != 0 || b.alloc_bytes != 0 || b.free_count != 0 || b.free_bytes != 0;
      });
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
  std::map<Key, ThreadGroup> groups = sum_by_key<Key>(
      after, [](const ThreadGroup& g) { return Key{g.stack, g.thread_name, g.answered}; },
      [](ThreadGroup* sum, const ThreadGroup& g) {
        sum->count += g.count;
        sum->tids.insert(sum->tids.end(), g.tids.begin(), g.tids.end());
      });
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
  using Key = std::tuple<int32_t, std::string, std::vector<uintptr_t>, int32_t>;
  return delta_by_key<Key>(
      before, after, [](const CpuTrace& t) { return Key{t.tid, t.thread_name, t.stack, t.tag}; },
      [](CpuTrace* sum, const CpuTrace& t) {
        sum->samples += t.samples;
        sum->weight += t.weight;
      },
      [](CpuTrace* later, const CpuTrace& earlier) {
        later->samples = minus(later->samples, earlier.samples);
        later->weight = minus(later->weight, earlier.weight);
      },
      [](const CpuTrace& t) { return t.samples != 0 || t.weight != 0; });
}

}  // namespace ppagent
