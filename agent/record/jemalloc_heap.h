// The jemalloc heap backend: jemalloc samples the allocations itself (its
// `prof` machinery, turned on from process start by MALLOC_CONF, which the
// launcher sets), the agent gives it the stack walker through
// `experimental.hooks.prof_backtrace`, and each profile is read from a
// `prof.dump` of jemalloc's own counts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/heap_profiler.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// What the host's malloc offers for profiling, found at run time.
struct JemallocProbe {
  bool on_jemalloc = false;  // the malloc the program calls is jemalloc's, with mallctl
  std::string why_not;       // empty when the backend can run
  bool per_sample_hooks = false;  // experimental.hooks.prof_sample (jemalloc >= 5.3.1)
};

class JemallocHeap {
 public:
  // Looks at the host's malloc without changing anything.
  static JemallocProbe probe();
  // Starts the backend: installs the backtrace hook, makes jemalloc sample
  // every 2^round(log2(rate)) bytes on average (resetting its profile if
  // MALLOC_CONF asked for another rate) and activates it. False with *why_not
  // if it cannot run; then nothing was changed.
  static bool start(int64_t rate, ModuleTables* tables, std::string* why_not);
  static bool active();
  // A process the agent does not profile, under a heap backend that may use
  // jemalloc: turns off the sampling that MALLOC_CONF (set by the launcher
  // for the whole process tree) turned on, so it costs nothing and never
  // runs jemalloc's own unwinder.
  static void stop_unused_sampling();

  // jemalloc's counts now, through a prof.dump into a private temporary
  // directory. Normal context only: it takes jemalloc's profiling locks.
  static std::vector<HeapBucketSnapshot> snapshot();
  static int64_t rate();  // the sampling period in effect
  // Backtraces taken by jemalloc for sampled allocations so far.
  static uint64_t samples_taken();
};

}  // namespace ppagent
