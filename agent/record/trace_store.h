// A fixed-size, lock-free store of (thread, stack) -> weight, filled from
// signal handlers and read in normal context. Memory is mapped once up front;
// when it is full, samples are dropped and counted, never blocked on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace ppagent {

struct TraceKey {
  int32_t tid;
  char thread_name[16];
  const uintptr_t* pcs;
  int depth;
  // What else tells traces apart: 0 for CPU samples; the wall profile's
  // thread state (wall_sampler.h).
  int32_t tag = 0;
};

class TraceStore {
 public:
  // Capacity: distinct traces, and total frames over all distinct traces.
  TraceStore(size_t max_traces, size_t max_frames);
  ~TraceStore();
  TraceStore(const TraceStore&) = delete;
  TraceStore& operator=(const TraceStore&) = delete;

  bool ok() const { return slots_ != nullptr; }

  static constexpr size_t kNoSlot = SIZE_MAX;
  // Async-signal-safe. Adds `weight` and `samples` to the trace; returns
  // false if dropped. With `slot`, sets it to where the trace is stored
  // (kNoSlot if dropped), for add_to_slot.
  bool add(const TraceKey& key, uint64_t weight, uint64_t samples = 1, size_t* slot = nullptr);
  // Adds to the trace add() stored at `slot`, without hashing and comparing
  // its key again (a trace's slot never changes).
  void add_to_slot(size_t slot, uint64_t weight, uint64_t samples = 1);
  // Counts a sample that could not even be taken to add().
  void count_dropped(uint64_t weight);

  // Normal context. Calls `visit` for every stored trace with its weight and
  // number of samples. Traces being added concurrently may be missed.
  void for_each(const std::function<void(const TraceKey&, uint64_t weight, uint64_t samples)>& visit) const;

  uint64_t dropped_samples() const { return dropped_samples_.load(std::memory_order_relaxed); }
  uint64_t dropped_weight() const { return dropped_weight_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<uint64_t> hash;    // 0 = free
    std::atomic<uint32_t> ready;   // 1 once key fields are written
    int32_t tid;
    int32_t depth;
    int32_t tag;
    char thread_name[16];
    uint64_t frames;               // index into frames_
    std::atomic<uint64_t> weight;
    std::atomic<uint64_t> samples;
  };

  bool matches(const Slot& slot, const TraceKey& key) const;

  Slot* slots_ = nullptr;
  size_t slot_count_ = 0;  // a power of two
  // The claimed slots' indexes + 1, in the order they were claimed (0: being
  // written), so that reading the store touches only what was stored, not
  // every slot of a table sized for the worst case.
  std::atomic<uint32_t>* claimed_ = nullptr;
  std::atomic<size_t> claimed_count_{0};
  uintptr_t* frames_ = nullptr;
  size_t frame_capacity_ = 0;
  std::atomic<size_t> frames_used_{0};
  std::atomic<uint64_t> dropped_samples_{0}, dropped_weight_{0};
  size_t mapped_bytes_ = 0;
};

}  // namespace ppagent
