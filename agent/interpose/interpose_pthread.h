// The interposed pthread_create (interpose_pthread.cc): the program's threads
// are counted and registered for CPU sampling, and the agent's own threads
// start through it.
#pragma once

#include <pthread.h>

namespace ppagent {

// The program's threads: the main thread and those it started while the
// agent was active, counted down as each ends. When the count reaches zero
// the agent's thread is nudged (wakeup_nudge): the process must end as glibc
// ends it after its last thread, without waiting for the agent's threads.
// watch_main_thread_exit: call once on the main thread (at start);
// forget_other_program_threads: in a forked child (one thread left).
void watch_main_thread_exit();
int program_threads_running();
void forget_other_program_threads();

// Runs `routine` on a new agent thread (the real pthread_create, every signal
// blocked, AgentScope for its whole life). Threads that agent code creates
// through the interposed pthread_create (a library's worker threads started
// from inside AgentScope) are made agent threads the same way.
int start_agent_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*),
                       void* argument);

}  // namespace ppagent
