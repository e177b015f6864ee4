// Turns heap samples into Go's heap and allocs profiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/heap_snapshot.h"
#include "symbols/symbolizer.h"

namespace ppagent {

enum class HeapProfileKind { kHeap, kAllocs };

// Go's scaling of a sampled (count, bytes) pair at `rate` into unbiased
// estimates: each object of average size s was sampled with probability
// 1 - exp(-s/rate).
void scale_heap_sample(uint64_t count, uint64_t bytes, int64_t rate, int64_t* scaled_count,
                       int64_t* scaled_bytes);

// Serialized (uncompressed) Profile, symbolized in this process. Buckets
// may be deltas (profile_delta.h) with more frees than allocations: their
// in-use values come out negative. `duration_ns`: the window of a delta.
std::string build_heap_profile(const std::vector<HeapBucketSnapshot>& buckets, int64_t rate,
                               HeapProfileKind kind, int64_t time_unix_ns,
                               Symbolizer* symbolizer, int64_t duration_ns = 0);

// Both, as build_heap_profile gives each, from one build. They are one
// profile (as Go's /debug/pprof/heap and /debug/pprof/allocs are) whose
// default sample type differs, so the stacks are looked up and the samples
// made once, for the exit write, dumps and flushes that write both.
struct HeapProfiles {
  std::string heap, allocs;
};
HeapProfiles build_heap_profiles(const std::vector<HeapBucketSnapshot>& buckets, int64_t rate,
                                 int64_t time_unix_ns, Symbolizer* symbolizer,
                                 int64_t duration_ns = 0);

}  // namespace ppagent
