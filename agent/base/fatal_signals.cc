#include "base/fatal_signals.h"

#include <csignal>
#include <cstring>

#include "base/agent_scope.h"
#include "base/agent_threads.h"
#include "base/agent_wakeup.h"

namespace ppagent {

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};

// Writing a profile allocates and takes locks, which a handler must not do.
// So the crashing thread asks the agent's thread to write and waits a bounded
// time (the crashing thread may hold a lock the write needs: then the timeout
// ends the wait). Then the default action is restored and the signal happens
// again as it would have without us: a fault by returning to the faulting
// instruction (same signal, same thread, same core dump), a signal that was
// sent (kill, raise, abort) by raising it again.
void on_fatal_signal(int signo, siginfo_t* info, void*) {
  // A fault inside the agent's own code: its data may be inconsistent, so
  // nothing is written. (The agent's threads block every signal; a fault
  // there ends the process directly.)
  if (!t_in_agent && !is_agent_thread(current_tid())) {
    uint32_t generation = wakeup_served_generation();
    wakeup_post(signo);
    wakeup_wait_served(generation, kFatalWriteTimeoutMs);
  }
  struct sigaction default_action;
  memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(signo, &default_action, nullptr);
  // si_code <= 0: sent by a process (SI_USER, SI_TKILL, SI_QUEUE...), not a
  // fault. Blocked until this handler returns, then delivered with SIG_DFL.
  if (info == nullptr || info->si_code <= 0) raise(signo);
}

}  // namespace

bool is_fatal_signal(int signo) {
  for (int s : kFatalSignals)
    if (s == signo) return true;
  return false;
}

void install_fatal_signal_handlers() {
  for (int signo : kFatalSignals) {
    struct sigaction old;
    if (sigaction(signo, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fatal_signal;
    // On the program's alternate stack if it has one (a stack overflow can
    // then still be reported); without one the kernel uses the thread's stack.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(signo, &action, nullptr);
  }
}

void remove_fatal_signal_handlers() {
  for (int signo : kFatalSignals) {
    struct sigaction current;
    if (sigaction(signo, nullptr, &current) != 0 || !(current.sa_flags & SA_SIGINFO) ||
        current.sa_sigaction != on_fatal_signal)
      continue;
    signal(signo, SIG_DFL);
  }
}

}  // namespace ppagent
