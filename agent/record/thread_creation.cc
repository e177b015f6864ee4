// The threadcreate profile's registry: for each live thread the program
// created (through the interposed pthread_create) since the agent started,
// the stack that created it. Thread start and end are not hot paths: one
// mutex-protected map.
#include "record/thread_creation.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>

#include "base/agent_scope.h"
#include "base/agent_threads.h"
#include "base/thread_proc.h"

namespace ppagent {

namespace {

// A plain pthread mutex, so that a forked child can re-initialize it.
pthread_mutex_t g_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
// Allocated on first use (inside AgentScope), never freed.
std::unordered_map<pid_t, std::vector<uintptr_t>>* g_creation_stacks = nullptr;


}  // namespace

void note_thread_created(std::vector<uintptr_t> creation_stack) {
  AgentScope scope;
  const pid_t tid = current_tid();
  pthread_mutex_lock(&g_registry_mutex);
  if (g_creation_stacks == nullptr)
    g_creation_stacks = new std::unordered_map<pid_t, std::vector<uintptr_t>>();
  (*g_creation_stacks)[tid] = std::move(creation_stack);
  pthread_mutex_unlock(&g_registry_mutex);
}

void note_thread_ended() {
  AgentScope scope;
  const pid_t tid = current_tid();
  pthread_mutex_lock(&g_registry_mutex);
  if (g_creation_stacks != nullptr) g_creation_stacks->erase(tid);
  pthread_mutex_unlock(&g_registry_mutex);
}

std::vector<ThreadSample> live_thread_creation_stacks() {
  AgentScope scope;
  std::vector<ThreadSample> threads;
  pthread_mutex_lock(&g_registry_mutex);
  if (g_creation_stacks != nullptr) {
    threads.reserve(g_creation_stacks->size());
    for (const auto& [tid, stack] : *g_creation_stacks) {
      ThreadSample sample;
      sample.tid = tid;
      sample.stack = stack;
      threads.push_back(std::move(sample));
    }
  }
  pthread_mutex_unlock(&g_registry_mutex);
  // Names are read outside the lock (file reads); a thread that ended
  // meanwhile has no name any more and is left out.
  std::vector<ThreadSample> live;
  live.reserve(threads.size());
  for (ThreadSample& sample : threads) {
    sample.name = read_thread_name(sample.tid);
    if (!sample.name.empty()) live.push_back(std::move(sample));
  }
  return live;
}

void thread_creation_child_after_fork() {
  g_registry_mutex = PTHREAD_MUTEX_INITIALIZER;
  if (g_creation_stacks != nullptr) g_creation_stacks->clear();
}

}  // namespace ppagent
