#include "base/agent_thread_cpu.h"

#include <sched.h>

#include <atomic>

namespace ppagent {

namespace {
cpu_set_t g_process_cpus;
std::atomic<bool> g_kept{false};
}  // namespace

KeepOnCurrentCpu::KeepOnCurrentCpu() {
  const int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof g_process_cpus, &g_process_cpus) != 0)
    return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  kept_ = sched_setaffinity(0, sizeof one, &one) == 0;
  g_kept.store(kept_);
}

KeepOnCurrentCpu::~KeepOnCurrentCpu() {
  if (kept_) sched_setaffinity(0, sizeof g_process_cpus, &g_process_cpus);
}

void release_agent_thread_cpu() {
  if (g_kept.exchange(false)) sched_setaffinity(0, sizeof g_process_cpus, &g_process_cpus);
}

}  // namespace ppagent
