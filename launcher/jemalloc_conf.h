// The launcher's part of the jemalloc heap backend: jemalloc reads its
// profiling options once, when the program's first allocation initializes it,
// so they must be in the environment (MALLOC_CONF) before PROGRAM starts.
#pragma once

#include <string>

namespace ppagent {

// The MALLOC_CONF for a heap backend of `backend` ("interpose", "jemalloc",
// "auto"; as PPROF_HEAP_BACKEND) at `mem_rate` bytes, given the existing value
// (null if unset): jemalloc's profiling on from the start, with cumulative
// counts (the allocs profile) and lg_prof_sample from mem_rate, before the
// existing options (jemalloc applies them in order, so the user's own win).
// Returns `existing` unchanged (or "") when the backend is interpose or heap
// profiling is off.
std::string malloc_conf_for_backend(const std::string& backend, long mem_rate,
                                    const char* existing);

// Sets MALLOC_CONF for the environment the launcher has prepared (the
// PPROF_* variables as the agent will read them).
void set_jemalloc_conf();

}  // namespace ppagent
