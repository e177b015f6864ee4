// Where the agent's own thread runs while it has nothing to do: on the CPU
// the program ran on when the thread was made.
//
// Why: a thread of the process that has run on another CPU turns every later
// TLB flush of the process -- each copy-on-write fault, munmap or mprotect --
// into an interrupt sent to that CPU and waited for, and the kernel (6.x)
// forgets such CPUs only lazily. The agent's thread mostly sleeps, yet having
// started once on the other CPU it cost `python3 -c pass` ~3.7 ms of its
// 25 ms in such waits (perf, 2 cores); a single-threaded program pays none.
// Once the thread has real work (a dump, a flush, a write), it may use every
// CPU the process may, so that its work does not take the program's CPU.
#pragma once

namespace ppagent {

// While it lives, the calling thread runs only on the CPU it is on, so that
// a thread it creates is born with that one CPU: a thread created with an
// affinity attribute may first be woken elsewhere, and once is enough.
// Remembers the CPUs the process may use. Normal context.
class KeepOnCurrentCpu {
 public:
  KeepOnCurrentCpu();
  ~KeepOnCurrentCpu();
  KeepOnCurrentCpu(const KeepOnCurrentCpu&) = delete;
  KeepOnCurrentCpu& operator=(const KeepOnCurrentCpu&) = delete;

 private:
  bool kept_ = false;
};

// On the agent's thread, before its first real work: every CPU the process
// may use, again. Later calls do nothing.
void release_agent_thread_cpu();

}  // namespace ppagent
