// Turns the CPU trace store into a pprof CPU profile shaped like Go's.
#pragma once

#include <cstdint>
#include <string>

#include "symbolizer.h"
#include "trace_store.h"

namespace ppagent {

struct CpuProfileParams {
  int hz = 100;
  int64_t start_unix_ns = 0;
  int64_t duration_ns = 0;
};

// Serialized (uncompressed) Profile, symbolized in this process.
std::string build_cpu_profile(const TraceStore& store, const CpuProfileParams& params,
                              Symbolizer* symbolizer);

}  // namespace ppagent
