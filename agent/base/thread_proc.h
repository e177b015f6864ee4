// What /proc/self/task/<tid>/ tells about one thread of this process: its
// name, its state and signal mask, and the system call it is blocked in.
// Normal context only (they open files); call inside AgentScope.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ppagent {

// The threads of this process, as listed in /proc/self/task.
std::vector<pid_t> list_threads();

// /proc/self/task/<tid>/comm without its newline; empty if the thread is gone.
std::string read_thread_name(pid_t tid);

struct ThreadStatus {
  bool exists = false;
  bool stopped = false;         // State T (stopped) or t (traced), or exiting (Z, X)
  bool exited = false;          // State Z or X: it ended (a main thread that ended
                                // stays a zombie while other threads run)
  bool waiting = false;         // State S or D: asleep in the kernel, not runnable
  uint64_t sig_blocked = 0;     // SigBlk: bit n-1 for signal n
  uint64_t sig_pending = 0;     // SigPnd (sent to this thread)
  bool blocked(int signo) const { return signo > 0 && ((sig_blocked >> (signo - 1)) & 1); }
  bool pending(int signo) const { return signo > 0 && ((sig_pending >> (signo - 1)) & 1); }
};
ThreadStatus read_thread_status(pid_t tid);

// /proc/self/task/<tid>/syscall: "running", or the call number, its six
// arguments, and the user sp and pc (number -1: blocked, but not in a call).
struct ThreadSyscall {
  bool readable = false;
  bool in_call = false;  // blocked inside system call `number`
  long number = -1;
  uintptr_t sp = 0, pc = 0;
  bool same_place(const ThreadSyscall& o) const {
    return in_call && o.in_call && number == o.number && sp == o.sp && pc == o.pc;
  }
};
ThreadSyscall read_thread_syscall(pid_t tid);

// Calls that a signal handler cuts short with EINTR even under SA_RESTART
// (signal(7): sleeps, multiplexing, signal waits, System V IPC, aio, and the
// socket calls that do so when the socket has a timeout).
bool interrupted_by_any_signal(long syscall_number);

}  // namespace ppagent
