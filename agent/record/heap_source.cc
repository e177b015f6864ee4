#include "record/heap_source.h"

#include <string>

#include "base/log.h"
#include "record/jemalloc_heap.h"

namespace ppagent {

void start_heap_backend(Config::HeapBackend backend, int64_t rate, ModuleTables* tables) {
  if (rate == 0 && backend != Config::HeapBackend::kInterpose) JemallocHeap::stop_unused_sampling();
  int64_t interpose_rate = rate;
  if (rate > 0 && backend != Config::HeapBackend::kInterpose) {
    std::string why_not;
    if (JemallocHeap::start(rate, tables, &why_not)) {
      // jemalloc samples: the interposed malloc must not count a second time.
      interpose_rate = 0;
    } else if (backend == Config::HeapBackend::kJemalloc || JemallocHeap::probe().on_jemalloc) {
      log_line("the jemalloc heap backend is not available: %s; using the interposing backend",
               why_not.c_str());
    }
  }
  HeapProfiler::start(interpose_rate, tables);
}

std::vector<HeapBucketSnapshot> heap_snapshot() {
  return JemallocHeap::active() ? JemallocHeap::snapshot() : HeapProfiler::snapshot();
}

int64_t heap_sampling_rate() {
  return JemallocHeap::active() ? JemallocHeap::rate() : HeapProfiler::rate();
}

uint64_t heap_samples_taken() {
  return JemallocHeap::active() ? JemallocHeap::samples_taken() : HeapProfiler::samples_taken();
}

}  // namespace ppagent
