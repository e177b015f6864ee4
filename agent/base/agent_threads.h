// The agent's own threads (its dump thread, the HTTP server's threads): never
// sampled, never in a threads profile, every signal blocked, and all their
// work in AgentScope, so that they never re-enter the hooks.
#pragma once

#include <pthread.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace ppagent {

// The calling thread's kernel id (a system call: async-signal-safe).
inline pid_t current_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Marks the calling thread as the agent's until forget_agent_thread().
void note_agent_thread();
void forget_agent_thread();
// Async-signal-safe and lock-free.
bool is_agent_thread(pid_t tid);
// In a forked child: the parent's threads do not exist there.
void forget_all_agent_threads();

}  // namespace ppagent
