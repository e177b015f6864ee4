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

// (interpose_pthread.cc) The program's threads: the main thread and those it
// started while the agent was active, counted down as each ends. When the
// count reaches zero the agent's thread is nudged (wakeup_nudge): the process
// must end as glibc ends it after its last thread, without waiting for the
// agent's threads. watch_main_thread_exit: call once on the main thread (at
// start); forget_other_program_threads: in a forked child (one thread left).
void watch_main_thread_exit();
int program_threads_running();
void forget_other_program_threads();

// (interpose_pthread.cc) Runs `routine` on a new agent thread (the real pthread_create, every signal
// blocked, AgentScope for its whole life). Threads that agent code creates
// through the interposed pthread_create (a library's worker threads started
// from inside AgentScope) are made agent threads the same way.
int start_agent_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*),
                       void* argument);

}  // namespace ppagent
