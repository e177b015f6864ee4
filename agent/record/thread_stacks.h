// The threads profile's capture: every thread of the process but the agent's
// own, each unwinding itself on a queued CPU signal.
#pragma once

#include <csignal>
#include <vector>

#include "record/thread_sample.h"

namespace ppagent {

class ModuleTables;

// Threads that do not answer within `deadline_ms` are returned with
// answered = false.
std::vector<ThreadSample> capture_thread_stacks(int deadline_ms);

// The tables that threads unwind with (agent.cc, once at start); until then
// every thread is reported as not answered. The requests go on the CPU
// sampler's signal, `cpu_signal()` (chosen after this call), whose handler
// answers them: `install_handler` puts it in place, false if the program's
// own handler or disposition is there. Both are passed in (CpuSampler's)
// because the sampler's handler calls down into this file.
void init_thread_stacks(ModuleTables* tables, bool (*install_handler)(ModuleTables*),
                        int (*cpu_signal)());

// Called by the CPU signal's handler (cpu_sampler.cc) for every signal that is not
// a CPU timer's. Async-signal-safe. Returns false if the signal is not a
// request from capture_thread_stacks (then it is not the agent's either).
bool answer_thread_stack_request(const siginfo_t* info, void* context, ModuleTables* tables);

// In a forked child (agent.cc): only the forking thread exists there, and a
// lock another thread held at the fork must be free again.
void thread_stacks_child_after_fork();

// The program took the CPU signal for itself (cpu_sampler.cc): waits for a capture
// in progress to end; later captures signal no thread (and say nothing more,
// the step-aside was reported once).
void thread_stacks_cpu_signal_given_up();

}  // namespace ppagent
