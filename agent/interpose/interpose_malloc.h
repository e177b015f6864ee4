// The interposed malloc family (interpose_malloc.cc), which calls the heap
// profiler only when a sample is due.
#pragma once

namespace ppagent {

// While nothing samples through the interposed malloc family (heap profiling
// off, or jemalloc sampling), points the loaded objects' PLT calls of those
// functions at the next definitions, so the hooks are not in the path at all
// (call once at start, after HeapProfiler::start).
void take_idle_malloc_hooks_out_of_calls();

}  // namespace ppagent
