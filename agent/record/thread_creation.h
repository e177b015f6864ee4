// The threadcreate profile's registry: where each live thread was created.
#pragma once

#include <cstdint>
#include <vector>

#include "record/thread_sample.h"

namespace ppagent {

// The live threads created through pthread_create since the agent started,
// each with the stack that created it.
std::vector<ThreadSample> live_thread_creation_stacks();

// interpose_pthread.cc, on a thread the program created, inside AgentScope:
// as it starts, with the stack of pthread_create's caller (innermost first),
// and as it ends.
void note_thread_created(std::vector<uintptr_t> creation_stack);
void note_thread_ended();

// In a forked child (agent.cc): only the forking thread exists there. The
// child's threadcreate profile starts empty.
void thread_creation_child_after_fork();

}  // namespace ppagent
