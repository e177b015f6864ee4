// The interposed pthread_mutex_lock and _unlock (interpose_locks.cc), which
// call the contention profiler only on the contended path.
#pragma once

namespace ppagent {

// Points the interposed pthread_mutex_lock/_unlock at glibc's functions or
// at the profiling wrappers. With `rebind_calls`, the calls of a function with
// nothing to record are also taken out of the agent: the loaded objects' PLT
// slots are pointed at glibc's function. Not in a forked child: walking the
// loaded objects takes a loader lock that another thread of the parent may
// have held at the fork.
void route_mutex_hooks(bool lock_profiled, bool unlock_profiled, bool rebind_calls = true);

// The locks remember the calling thread's id; a forked child's thread has a
// new one: call in the child after fork.
void forget_lock_thread_id();

}  // namespace ppagent
