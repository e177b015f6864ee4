// Turns mutex or block events into Go's mutex/block profile shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "record/contention_snapshot.h"
#include "symbols/symbolizer.h"

namespace ppagent {

// Serialized (uncompressed) Profile, symbolized in this process.
// `duration_ns`: the window of a delta (profile_delta.h), else 0.
std::string build_contention_profile(const std::vector<ContentionSnapshot>& events,
                                     int64_t time_unix_ns, Symbolizer* symbolizer,
                                     int64_t duration_ns = 0);

}  // namespace ppagent
