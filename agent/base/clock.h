// Clock readings in nanoseconds, as the profiles and the agent's deadlines
// count time. clock_gettime is async-signal-safe, and so is this.
#pragma once

#include <cstdint>
#include <ctime>

namespace ppagent {

inline int64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace ppagent
