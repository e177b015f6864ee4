// The program's view of the agent's CPU signal in signal masks. The program's
// pthread_sigmask/sigprocmask calls are interposed (interpose_masks.cc): the
// CPU signal is left out of what they block, so that threads which block
// every signal (workers started with a full mask, signal-handling threads)
// are still sampled and still answer the threads profile, and each thread
// remembers whether the program asked for it to be blocked, to show it in
// the masks read back. sigwait/sigwaitinfo/sigtimedwait and signalfd are
// interposed too: the CPU signal is left out of the sets they wait on, so a
// timer signal never reaches the program through them.
//
// A set that names the CPU signal without all the other real-time signals is
// the program's own use of that signal (it blocks it to wait for it): the
// agent then hands the signal over, as when the program installs a handler.
#pragma once

#include <csignal>

namespace ppagent {

// Per thread: the program asked for the CPU signal to be blocked here.
// Inherited by threads the program creates (interpose_pthread.cc) and by a
// forked child (the TLS of the forking thread is copied).
extern __thread bool t_program_blocks_cpu_signal __attribute__((tls_model("initial-exec")));

// Whether `set`, which contains `signo`, names it on purpose: true unless
// every other real-time signal (SIGRTMIN..SIGRTMAX) is in the set too, as in
// sets made with sigfillset.
bool names_signal_specifically(const sigset_t& set, int signo);

// If this thread has `signo` blocked (a mask inherited through exec, or set
// by glibc from pthread_attr_setsigmask_np), unblocks it and records that the
// program has it blocked. Call inside AgentScope.
void keep_cpu_signal_unblocked(int signo);

}  // namespace ppagent
