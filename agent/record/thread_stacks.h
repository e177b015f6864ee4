// The threads profile's capture: every thread of the process but the agent's
// own, each unwinding itself on the CPU signal (from a one-shot timer on its
// own CPU clock if it was running, see StackRequests; queued to it if it was
// blocked), or unwound from outside when blocked in a call a signal would cut
// short.
#pragma once

#include <csignal>
#include <cstdint>
#include <sys/types.h>
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

// One round of requests for the wall sampler (wall_sampler.h), which decides
// itself which threads to ask: those it found running. A request is not a
// queued signal but a one-shot timer on the thread's own CPU clock, due
// after a nanosecond of it: the kernel checks it at its tick while the
// thread runs and sends the signal on the thread's way back to its own code,
// so it never lands as the thread enters a call a signal would cut short (a
// thread that blocks first answers when it runs again, too late for the
// round, and its answer is dropped). Never waits for a threads capture in
// progress: then the round cannot begin.
class StackRequests {
 public:
  // A thread's answer: its stack, and its name then (it names itself).
  struct Answer {
    bool answered = false;
    char name[16] = {};
    std::vector<uintptr_t> stack;  // innermost first
  };

  StackRequests() = default;
  ~StackRequests();
  StackRequests(const StackRequests&) = delete;
  StackRequests& operator=(const StackRequests&) = delete;

  // False if no request can be sent now (a capture in progress, no tables
  // yet, or the CPU signal is the program's).
  bool begin();
  // Arms the request's timer for `tid`; false if it could not.
  bool ask(pid_t tid);
  // Waits until every asked thread answered or `deadline_ns` (CLOCK_MONOTONIC)
  // passed; one answer per successful ask(), in that order. Ends the round.
  std::vector<Answer> collect(int64_t deadline_ns);

 private:
  bool begun_ = false;
  uint32_t generation_ = 0;
  int next_slot_ = 0;
  std::vector<int> slots_;
  std::vector<int> timers_;  // kernel timer ids, deleted by collect()
};

// Called by the CPU signal's handler (cpu_sampler.cc) for every signal that is not
// a CPU sampling timer's. Async-signal-safe. Returns false if the signal is not a
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
