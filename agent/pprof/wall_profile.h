// Turns the wall sampler's trace store into a wall-clock profile: where every
// thread spent its time, running or waiting. Go has no such profile; it is
// shaped like the CPU profile (samples/count, wall/nanoseconds), with the
// thread's state as labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pprof/cpu_profile.h"
#include "symbols/symbolizer.h"

namespace ppagent {

// A wall trace is a CpuTrace whose tag is the thread's state
// (record/wall_sampler.h) and whose weight is in nanoseconds.
using WallTrace = CpuTrace;

struct WallProfileParams {
  int hz = 0;
  int64_t start_unix_ns = 0;
  int64_t duration_ns = 0;
  uint64_t dropped_samples = 0;  // the store was full
  uint64_t skipped_samples = 0;  // ticks out of time (WallSampler::skipped_samples)
};

// Serialized (uncompressed) Profile, symbolized in this process. Labels:
// thread_id, thread_name, state (running or syscall) and, in a call,
// syscall (its name).
std::string build_wall_profile(const std::vector<WallTrace>& traces,
                               const WallProfileParams& params, Symbolizer* symbolizer);

}  // namespace ppagent
