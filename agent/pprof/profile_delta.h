// Differences between two snapshots of a profile's raw records (second minus
// first), for the `seconds=N` deltas of the live endpoint. Records are
// matched by the key the profile aggregates on; records whose difference is
// zero in every counter are dropped.
#pragma once

#include <vector>

#include "pprof/cpu_profile.h"
#include "pprof/thread_profile.h"
#include "record/contention_snapshot.h"
#include "record/heap_snapshot.h"

namespace ppagent {

// Per (stack, size). Counters stay unsigned: allocations and frees only grow,
// so each difference is >= 0 (alloc - free of the result may be negative,
// which build_heap_profile shows as negative in-use values).
std::vector<HeapBucketSnapshot> heap_delta(const std::vector<HeapBucketSnapshot>& before,
                                           const std::vector<HeapBucketSnapshot>& after);

// Per stack (duplicate stacks within one snapshot are summed first).
std::vector<ContentionSnapshot> contention_delta(const std::vector<ContentionSnapshot>& before,
                                                 const std::vector<ContentionSnapshot>& after);

// Per (stack, thread name, answered): count after - count before, which may
// be negative (threads that ended). Thread ids come from the later snapshot,
// or from the earlier one for groups that no longer exist.
std::vector<ThreadGroup> thread_group_delta(const std::vector<ThreadGroup>& before,
                                            const std::vector<ThreadGroup>& after);

// Per (tid, thread name, stack, tag): CPU and wall traces.
std::vector<CpuTrace> cpu_delta(const std::vector<CpuTrace>& before,
                                const std::vector<CpuTrace>& after);

}  // namespace ppagent
