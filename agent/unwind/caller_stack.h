// The stack of whoever called into the agent (malloc, a lock, a wait): the
// walk starts here and drops the agent's own frames. Normal context only.
#pragma once

#include <cstdint>

#include "unwind/stack_walker.h"

namespace ppagent {

// Notes where the agent's own code is; call once at start.
void init_caller_stack();

// The executable segment of the loaded object that holds `address`.
bool code_segment_of(const void* address, uintptr_t* start, uintptr_t* end);

// Also drops leading frames in [start, end): the code of an allocator that
// calls the agent back from inside malloc (jemalloc's profiling hooks).
void skip_allocator_frames(uintptr_t start, uintptr_t end);

// Return addresses, innermost first, beginning with the caller of the
// interposed function. Returns the number of frames.
int capture_caller_stack(ModuleTables* tables, uintptr_t* pcs, int max_depth);

}  // namespace ppagent
