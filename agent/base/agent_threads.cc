#include "base/agent_threads.h"

#include <atomic>
#include <sys/syscall.h>
#include <unistd.h>


namespace ppagent {
namespace {

// Enough for the dump thread and the HTTP server's connection limit; a
// thread that finds no slot still works, it is only not recognized.
constexpr int kMaxAgentThreads = 256;
std::atomic<pid_t> g_agent_tids[kMaxAgentThreads];

}  // namespace

void note_agent_thread() {
  pid_t tid = current_tid();
  for (auto& slot : g_agent_tids) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, tid)) return;
  }
}

void forget_agent_thread() {
  pid_t tid = current_tid();
  for (auto& slot : g_agent_tids) {
    pid_t expected = tid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

bool is_agent_thread(pid_t tid) {
  for (const auto& slot : g_agent_tids)
    if (slot.load(std::memory_order_relaxed) == tid) return true;
  return false;
}

void forget_all_agent_threads() {
  for (auto& slot : g_agent_tids) slot.store(0);
}

}  // namespace ppagent
