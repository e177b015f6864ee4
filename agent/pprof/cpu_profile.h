// Turns a CPU trace store's traces into a pprof CPU profile shaped like Go's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/trace_store.h"
#include "symbols/symbolizer.h"

namespace ppagent {

struct CpuProfileParams {
  int hz = 100;
  int64_t start_unix_ns = 0;
  int64_t duration_ns = 0;
  int signal = 0;  // the CPU signal, named in a comment (0: none)
};

// One distinct (thread, stack, tag) of a trace store with its totals; the
// wall profile's traces too (its tag is the thread's state).
struct CpuTrace {
  int32_t tid = 0;
  std::string thread_name;
  std::vector<uintptr_t> stack;  // innermost first
  uint64_t samples = 0, weight = 0;
  int32_t tag = 0;  // TraceKey::tag: 0 for CPU samples
};

// The store's traces, one entry per (tid, name, stack, tag): the store may hold
// one trace in two slots (see TraceStore::add), which are merged here.
std::vector<CpuTrace> collect_cpu_traces(const TraceStore& store);

// Serialized (uncompressed) Profile, symbolized in this process, from traces
// collected (or the difference of two collections); `dropped_samples` goes
// into the profile's comment. Made through build_profile (profile_snapshot.h).
std::string build_cpu_profile(const std::vector<CpuTrace>& traces, uint64_t dropped_samples,
                              const CpuProfileParams& params, Symbolizer* symbolizer);

}  // namespace ppagent
