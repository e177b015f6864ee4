// The heap profile's data from whichever backend records it: the interposed
// malloc (heap_profiler.h) or jemalloc's own sampling (jemalloc_heap.h).
// Writers (exit, dump signal, periodic, HTTP) read it only through here.
#pragma once

#include <cstdint>
#include <vector>

#include "base/config.h"
#include "record/heap_profiler.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// Starts heap profiling at `rate` bytes with the configured backend. Rate 0:
// heap profiling off, or a process the agent does not profile; then, unless
// the backend is interpose, jemalloc's sampling (if on) is switched off.
// A jemalloc backend that cannot run is reported in one line and the
// interposing backend takes over (silently under auto when the program does
// not run on jemalloc at all).
void start_heap_backend(Config::HeapBackend backend, int64_t rate, ModuleTables* tables);

std::vector<HeapBucketSnapshot> heap_snapshot();
int64_t heap_sampling_rate();
uint64_t heap_samples_taken();  // each stands for heap_sampling_rate() bytes on average

}  // namespace ppagent
