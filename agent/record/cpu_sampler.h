// CPU-time sampling: one POSIX timer per thread on that thread's CPU clock,
// delivering the agent's CPU signal to that thread (SIGEV_THREAD_ID), as Go
// does with SIGPROF since 1.18. The signal is not SIGPROF by default: GNU
// sort, vim, gprof-built programs and other profilers install SIGPROF
// handlers, and a program's handler for the agent's signal ends CPU
// profiling. The handler — the agent's only code that runs in signal context
// for CPU profiling — is in cpu_sampler.cc.
#pragma once

#include <cstdint>

#include "record/trace_store.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// The agent's CPU signal: 0 until CpuSampler::choose_signal has run.
int cpu_signal();

class CpuSampler {
 public:
  // Fixes the signal for the process's lifetime (an exec'd program chooses
  // again): `requested` (PPROF_CPU_SIGNAL) if not 0, else the highest
  // real-time signal from SIGRTMAX down to SIGRTMIN, other than `avoid` (the
  // dump signal), whose disposition is the default right now: stable from run
  // to run, and one that nothing loaded so far claims. Returns 0 (with a
  // message logged) if there is none.
  static int choose_signal(int requested, int avoid);

  // Installs the handler and arms a timer for every thread of the process.
  // Returns false (with a message logged) if profiling cannot start.
  static bool start(int hz, TraceStore* store, ModuleTables* tables);
  // Disarms and deletes every timer; samples already taken stay in the store.
  static void stop();
  static bool running();
  // Installs the CPU signal's handler without any timer (for threads captures,
  // whose requests it answers), unless the signal already has a handler or
  // disposition other than the default. True if the agent's handler is in place.
  static bool install_handler(ModuleTables* tables);

  // The program's main is about to run (or the agent's thread has waited a
  // first second, for programs that start otherwise): from now on a sample
  // that passes through the agent's own code counts. Before, the only such
  // code is the agent's start-up: its constructors and the C++ runtime's
  // linked into it, which the loader runs after the timers were armed.
  static void program_started();

  // Called on a thread the program created, as it starts and as it ends.
  static void thread_started();
  static void thread_exiting();

  // pthread_atfork handlers. Timers are not inherited by a child: it gets a
  // fresh store and a timer for its one thread.
  static void prepare_fork();
  static void parent_after_fork();
  static void child_after_fork(TraceStore* fresh_store);
  // In a forked child the agent leaves alone (PPROF_CHILDREN=0): the CPU
  // signal goes back to its default disposition and, if the program has it
  // blocked on this thread, into the mask, so that a program the child execs
  // inherits what it would without the agent.
  static void give_back_signal_in_child();
};

}  // namespace ppagent
