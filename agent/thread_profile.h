// The threads profile (served as "goroutine": the stacks of all threads now)
// and the threadcreate profile (where each live thread was created), in the
// shape Go gives its goroutine and threadcreate profiles.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ppagent {

class Symbolizer;

struct ThreadSample {
  pid_t tid = 0;
  std::string name;               // /proc/self/task/<tid>/comm
  std::vector<uintptr_t> stack;   // innermost first; return addresses after the first
  bool answered = true;           // false: no stack (the thread did not answer in time)
};

// One sample of the profile: the threads on one (stack, name).
struct ThreadGroup {
  std::vector<uintptr_t> stack;
  std::string thread_name;
  bool answered = true;
  std::vector<pid_t> tids;  // each becomes a thread_id label
  int64_t count = 0;        // threads on it (for a delta, the difference)
};

enum class ThreadProfileKind { kThreads, kThreadCreate };

std::vector<ThreadGroup> group_threads(const std::vector<ThreadSample>& threads);

// Serialized (uncompressed) Profile: sample type goroutine/count or
// threadcreate/count, symbolized in this process.
std::string build_thread_profile(const std::vector<ThreadGroup>& groups, ThreadProfileKind kind,
                                 int64_t time_unix_ns, Symbolizer* symbolizer);

// thread_stacks.cc: every thread of the process but the agent's own, each
// unwinding itself on a signal; threads that do not answer within
// `deadline_ms` are returned with answered = false.
std::vector<ThreadSample> capture_thread_stacks(int deadline_ms);

// thread_creation.cc: the live threads created through pthread_create since
// the agent started, each with the stack that created it.
std::vector<ThreadSample> live_thread_creation_stacks();

}  // namespace ppagent
