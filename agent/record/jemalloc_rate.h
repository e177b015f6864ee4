// jemalloc samples at powers of two only (lg_prof_sample): the agent and the
// launcher turn PPROF_MEM_RATE into the same one.
#pragma once

#include <cmath>
#include <cstdint>

namespace ppagent {

// log2 of a sampling rate rounded to the nearest power of two on the log
// scale: 524288 -> 19, 100000 -> 17 (131072), 1 -> 0 (every allocation).
inline int jemalloc_lg_sample(int64_t rate) {
  if (rate <= 1) return 0;
  long lg = std::lround(std::log2(static_cast<double>(rate)));
  return lg > 62 ? 62 : static_cast<int>(lg);
}

}  // namespace ppagent
