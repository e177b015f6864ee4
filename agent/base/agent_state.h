// What the agent is recording, published by agent.cc for the code below it
// that acts on it without starting or stopping anything: the interposers and
// the live endpoint. agent.cc sits above them all, so they read this instead
// of calling up into it.
#pragma once

#include <atomic>
#include <cstdint>
#include <sys/types.h>

namespace ppagent {

struct Config;
class TraceStore;
class ModuleTables;

// Fixed once the constructor has run (a forked child gets a fresh cpu_store).
struct AgentState {
  const Config* config = nullptr;
  bool cpu_on = false, heap_on = false, mutex_on = false, block_on = false, wall_on = false;
  TraceStore* cpu_store = nullptr;        // the whole-run CPU samples, when cpu_on
  TraceStore* wall_store = nullptr;       // the whole-run wall samples, when wall_on
  ModuleTables* module_tables = nullptr;  // for unwinding in signal handlers
  int64_t start_unix_ns = 0, start_mono_ns = 0;
};

// agent.cc's state as `read` gives it now; all empty until agent.cc has
// passed its reader (at start, before anything is on).
AgentState agent_state();
void set_agent_state_reader(AgentState (*read)());

// True once the constructor has run and some profiling is on.
bool agent_active(std::memory_order order = std::memory_order_relaxed);
void set_agent_active(bool active);

// The process the agent's state belongs to: set at start and in a forked
// child. A vfork child runs with another pid on its parent's memory and must
// not touch that state.
pid_t agent_process_id();
void set_agent_process_id(pid_t pid);

}  // namespace ppagent
