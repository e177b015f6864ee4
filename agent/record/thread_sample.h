// One thread's stack as the threads and threadcreate captures return it: the
// snapshot that pprof/thread_profile.h groups and builds.
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ppagent {

// How long a threads capture waits for the threads to answer.
constexpr int kThreadStacksDeadlineMs = 250;

struct ThreadSample {
  pid_t tid = 0;
  std::string name;               // /proc/self/task/<tid>/comm
  std::vector<uintptr_t> stack;   // innermost first; return addresses after the first
  bool answered = true;           // false: no stack (the thread did not answer in time)
};

}  // namespace ppagent
