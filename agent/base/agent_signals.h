// The signals on which the agent has installed a handler of its own, and what
// the agent does when the program takes one of them for itself. The program's
// sigaction/signal calls are interposed (interpose_signals.cc): a handler or
// SIG_IGN from the program wins, the agent steps aside for the feature that
// used the signal; SIG_DFL and queries leave the agent's handler in place and
// show the program the default disposition it would see without the agent.
#pragma once

#include <csignal>

namespace ppagent {

// Run once, on the program's thread, before the program's disposition is set.
using SignalTakenFn = void (*)(int signo);

// Records that `handler` (the agent's) now handles `signo`. `on_taken` may be
// nullptr (nothing to stop: the signal is simply handed over).
void claim_signal(int signo, void* handler, SignalTakenFn on_taken);

// Whether the agent's handler is still the one installed for `signo` (a claim
// whose handler was replaced behind the interposer's back is dropped).
bool signal_claimed(int signo);

// Whether a claim on `signo` is recorded: one atomic load, without checking
// the installed handler (for the interposed mask calls, which programs make
// often; a handler replaced behind the interposer's back only costs them a
// signal kept out of their masks).
bool signal_claim_recorded(int signo);

// Drops the claim on `signo` without running its on_taken function (the
// agent gives the signal back itself).
void forget_claim(int signo);

// Gives `signo` up: runs its on_taken function (once, even if two threads
// race here). Returns after the agent has stepped aside.
void release_signal(int signo);

// The address of the handler installed in `action`, whichever member it is in.
inline void* installed_handler(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(action.sa_sigaction)
                                        : reinterpret_cast<void*>(action.sa_handler);
}

}  // namespace ppagent
