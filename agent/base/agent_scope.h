// Marks the agent's own work on a thread. While set, the interposed functions
// forward straight to the real ones: the agent's allocations and locks are
// never sampled and never re-enter its hooks.
#pragma once

namespace ppagent {

extern __thread bool t_in_agent __attribute__((tls_model("initial-exec")));

class AgentScope {
 public:
  AgentScope() : outer_(t_in_agent) { t_in_agent = true; }
  ~AgentScope() { t_in_agent = outer_; }
  AgentScope(const AgentScope&) = delete;
  AgentScope& operator=(const AgentScope&) = delete;

 private:
  bool outer_;
};

}  // namespace ppagent
