#include "base/agent_state.h"

namespace ppagent {

namespace {

std::atomic<AgentState (*)()> g_read_state{nullptr};
std::atomic<bool> g_active{false};
std::atomic<pid_t> g_process_id{0};

}  // namespace

AgentState agent_state() {
  AgentState (*read)() = g_read_state.load(std::memory_order_acquire);
  return read != nullptr ? read() : AgentState{};
}

void set_agent_state_reader(AgentState (*read)()) {
  g_read_state.store(read, std::memory_order_release);
}

bool agent_active(std::memory_order order) { return g_active.load(order); }

void set_agent_active(bool active) { g_active.store(active); }

pid_t agent_process_id() { return g_process_id.load(std::memory_order_relaxed); }

void set_agent_process_id(pid_t pid) { g_process_id.store(pid); }

}  // namespace ppagent
