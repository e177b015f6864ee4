// One heap bucket as the heap recorders hand it out: what the heap and
// allocs profiles are built from (pprof/heap_profile.h), without the
// recorder's own state.
#pragma once

#include <cstdint>
#include <vector>

namespace ppagent {

struct HeapBucketSnapshot {
  std::vector<uintptr_t> stack;  // return addresses, innermost first
  uint64_t size;
  uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
};

}  // namespace ppagent
