// The threads profile (served as "goroutine": the stacks of all threads now)
// and the threadcreate profile (where each live thread was created), in the
// shape Go gives its goroutine and threadcreate profiles.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "record/thread_sample.h"

namespace ppagent {

class Symbolizer;

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
// threadcreate/count, symbolized in this process. For kThreads the first pc
// of a stack is where the thread was interrupted and the rest are return
// addresses; for kThreadCreate every pc is a return address. Threads that did
// not answer get one pseudo frame naming `deadline_ms`.
std::string build_thread_profile(const std::vector<ThreadGroup>& groups, ThreadProfileKind kind,
                                 int64_t time_unix_ns, Symbolizer* symbolizer,
                                 int deadline_ms = kThreadStacksDeadlineMs);

}  // namespace ppagent
