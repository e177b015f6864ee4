// SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL: the profiles are written, then
// the process ends exactly as it would have without the agent.
#pragma once

namespace ppagent {

// How long a crashing thread waits for the agent's thread to write.
constexpr int kFatalWriteTimeoutMs = 2000;

// Takes over each fatal signal whose disposition is SIG_DFL now (a program
// that installs its own handler later simply replaces ours). Call only when
// the agent's thread runs: the handler asks it to write the profiles.
void install_fatal_signal_handlers();

bool is_fatal_signal(int signo);

// Puts SIG_DFL back where the agent's fatal-signal handler is installed: in a
// process where the agent goes inert (no agent thread would answer it).
void remove_fatal_signal_handlers();

}  // namespace ppagent
