// One contention stack as the contention recorder hands it out: what the
// mutex and block profiles are built from (pprof/contention_profile.h),
// without the recorder's own state.
#pragma once

#include <cstdint>
#include <vector>

namespace ppagent {

struct ContentionSnapshot {
  std::vector<uintptr_t> stack;
  int64_t count;
  int64_t delay_ns;
};

}  // namespace ppagent
