// Reads the heap profile jemalloc writes on `prof.dump` (its "heap_v2" text
// format) into the agent's heap buckets, so that the jemalloc backend's
// profiles go through the same builder as the interposing backend's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/heap_profiler.h"

namespace ppagent {

struct JemallocDump {
  int64_t rate = 0;  // the sampling period in the header: 2^lg_prof_sample
  // One per backtrace ("@" line), with its process-wide "t*" counts: the
  // cumulative pair (prof_accum) as allocations, cumulative minus current as
  // frees. size is 0: jemalloc keeps no per-size split of a backtrace.
  std::vector<HeapBucketSnapshot> buckets;
};

// `text`: the whole dump. `accumulated`: whether jemalloc kept the cumulative
// counts (opt.prof_accum); without them the allocations are the in-use ones.
// Backtraces that are empty (the agent's own allocations, see
// jemalloc_heap.cc) are left out. Returns false if the text is not a heap_v2
// dump; *error says why.
bool parse_jemalloc_dump(const std::string& text, bool accumulated, JemallocDump* dump,
                         std::string* error);

}  // namespace ppagent
