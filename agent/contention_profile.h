// Turns mutex or block events into Go's mutex/block profile shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "contention_profiler.h"
#include "symbolizer.h"

namespace ppagent {

// Serialized (uncompressed) Profile, symbolized in this process.
std::string build_contention_profile(const std::vector<ContentionSnapshot>& events,
                                     int64_t time_unix_ns, Symbolizer* symbolizer);

}  // namespace ppagent
