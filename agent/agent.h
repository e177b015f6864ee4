// The agent's lifecycle: start from the preload constructor, write profiles
// on the way out. Interposed symbols live in interpose_*.cc.
#pragma once

#include <cstdint>
#include <sys/types.h>

namespace ppagent {

struct Config;
class TraceStore;
class ModuleTables;

// What the agent is recording, for code that produces profiles on demand
// (live_profiles.cc). Fixed once the constructor has run (a forked child
// gets a fresh cpu_store).
struct AgentState {
  const Config* config = nullptr;
  bool cpu_on = false, heap_on = false, mutex_on = false, block_on = false;
  TraceStore* cpu_store = nullptr;        // the whole-run CPU samples, when cpu_on
  ModuleTables* module_tables = nullptr;  // for unwinding in signal handlers
  int64_t start_unix_ns = 0, start_mono_ns = 0;
};
AgentState agent_state();

// True once the constructor has run and some profiling is on.
bool agent_active();

// The process the agent's state belongs to: set at start and in a forked
// child. A vfork child runs with another pid on its parent's memory and must
// not touch that state.
pid_t agent_process_id();

// True on a thread inside daemon(): a fork there is followed by the
// parent's _exit inside libc (interpose_exit.cc).
bool forking_for_daemon();

// Writes every enabled profile once (later calls return at once). Safe to
// call from exit paths and from the agent's own thread, not from a handler.
void write_profiles_at_end();

}  // namespace ppagent
