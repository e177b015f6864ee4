// How a process ends, and the agent's last write before it does
// (interpose_exit.cc tells how).
#pragma once

namespace ppagent {

// The writer of the exit profiles (agent.cc's write_profiles_at_end), passed
// in at start before the agent is active: the exit paths call it only then.
void set_exit_writer(void (*write_profiles)());

// True on a thread inside daemon(): a fork there is followed by the
// parent's _exit inside libc.
bool forking_for_daemon();

}  // namespace ppagent
