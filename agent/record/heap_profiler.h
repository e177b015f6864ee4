// Sampled heap profiling, as Go's runtime does it: a per-thread countdown of
// bytes with exponentially distributed intervals of mean `rate`; a sampled
// block's stack goes into a (stack, size) bucket, and the block into an exact
// table of live samples so that its free is counted. The interposed
// malloc-family functions (interpose_malloc.cc) call in here only when a
// countdown runs out or a freed pointer may be a sampled block.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "record/heap_snapshot.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// Bytes this thread may still allocate before the next sample. Below zero:
// the allocation just made is due for sampling (see on_countdown_expired).
extern __thread int64_t t_bytes_until_sample __attribute__((tls_model("initial-exec")));

// Pages holding the start of a live sampled block: a two-level table of
// counters over 48-bit addresses. A free consults it with two loads; only a
// hit (the page has a sampled block; exact table decides) costs more.
namespace heap_pages {
constexpr int kPageShift = 12, kLeafBits = 18, kTopBits = 48 - kPageShift - kLeafBits;
extern std::atomic<std::atomic<uint16_t>*> leaves[1 << kTopBits];

inline bool may_hold_sample(const void* p) {
  uintptr_t page = reinterpret_cast<uintptr_t>(p) >> kPageShift;
  if (page >> (kTopBits + kLeafBits)) return false;
  std::atomic<uint16_t>* leaf = leaves[page >> kLeafBits].load(std::memory_order_relaxed);
  return leaf != nullptr &&
         leaf[page & ((1u << kLeafBits) - 1)].load(std::memory_order_relaxed) != 0;
}
}  // namespace heap_pages

struct HeapBucket;

// A sampled block taken out of the live table (by free or realloc).
struct SampledBlock {
  uint64_t size = 0;
  HeapBucket* bucket = nullptr;  // buckets live as long as the process
};

class HeapProfiler {
 public:
  // Starts sampling at `rate` bytes (0: never). `tables` unwinds the stacks.
  static void start(int64_t rate, ModuleTables* tables);
  static int64_t rate();

  // Slow path of an allocation of `size` bytes at `p` (null if it failed)
  // whose countdown went below zero.
  static void on_countdown_expired(void* p, size_t size);
  // A block that another sampler chose (jemalloc's per-sample hook), with
  // its stack: recorded and tracked like one of ours. Works at rate 0 too.
  static void record_sampled_block(void* p, size_t size, const uintptr_t* pcs, int depth);

  // `p` may be a sampled block (heap_pages said so): if it is, removes it from
  // the live table into *block and returns true.
  static bool take(const void* p, SampledBlock* block);
  // The block's life ended (freed, or moved by realloc).
  static void count_free(const SampledBlock& block);
  // realloc failed: the block is live again at the same address.
  static void put_back(const void* p, const SampledBlock& block);

  static std::vector<HeapBucketSnapshot> snapshot();
  // Sampled allocations so far: each stands for `rate` bytes on average.
  static uint64_t samples_taken();

  static void prepare_fork();
  static void parent_after_fork();
  // In a forked child: forget the parent's samples; stop sampling unless
  // `keep_recording` (the child is profiled too).
  static void child_after_fork(bool keep_recording);
};

}  // namespace ppagent
