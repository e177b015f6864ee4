// Wall-clock sampling: every thread of the program, at a fixed rate of real
// time, whether it runs or waits. The sampler runs on an agent thread of its
// own and never signals a thread that waits in the kernel: such a thread is
// unwound from outside, from the sp and pc that /proc/self/task/TID/syscall
// shows, so no call of the program returns early. A thread found running
// unwinds itself in the CPU signal's handler, asked by a one-shot timer on
// its own CPU clock (thread_stacks.h's StackRequests), whose signal comes on
// its way back to its own code and so never cuts a call short either.
#pragma once

#include <cstdint>

#include "record/trace_store.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// A wall sample's TraceKey::tag: the number of the system call the thread
// was in (>= 0), or kWallRunning: in its own code, on a CPU or waiting for
// one (also a page fault or a stop, which are not system calls).
constexpr int32_t kWallRunning = -1;

class WallSampler {
 public:
  // The sampler's loop, on the calling thread (an agent thread, which it
  // never samples): ticks on a schedule of one every 1/hz seconds on
  // CLOCK_MONOTONIC deadlines, until stop(); a tick at which no thread is
  // due to be looked at is slept through. Each live thread's time since its
  // previous sample goes into `store` under its stack, name and state.
  static void run(int hz, TraceStore* store, ModuleTables* tables);
  // Ends the loop: waits (100 ms at most) for a tick in progress; the
  // samples stay in the store.
  static void stop();
  // Thread samples left out because a tick ran out of its time (many
  // threads): those threads were sampled on a later tick instead, with the
  // time since their last sample. Counts only up.
  static uint64_t skipped_samples();
  // Called on a thread the program created, as it starts and as it ends
  // (interpose_pthread.cc), so that the sampler lists the threads again on
  // its next tick (a futex wake if it sleeps past that). Async-signal-safe.
  static void thread_started();
  static void thread_ending();
  // In a forked child, where the sampler's thread does not exist: a new
  // run() may start.
  static void child_after_fork();
};

}  // namespace ppagent
