#include "pprof/profile_snapshot.h"

#include "base/agent_state.h"
#include "base/config.h"
#include "pprof/contention_profile.h"
#include "pprof/heap_profile.h"
#include "pprof/profile_delta.h"
#include "pprof/wall_profile.h"
#include "record/contention_profiler.h"
#include "record/cpu_sampler.h"
#include "record/heap_source.h"
#include "record/thread_creation.h"
#include "record/thread_stacks.h"
#include "record/trace_store.h"
#include "record/wall_sampler.h"

namespace ppagent {

ProfileSnapshot take_cpu_snapshot(const TraceStore& store, int hz) {
  ProfileSnapshot snapshot;
  snapshot.cpu.traces = collect_cpu_traces(store);
  snapshot.cpu.dropped_samples = store.dropped_samples();
  snapshot.cpu.dropped_weight = store.dropped_weight();
  snapshot.cpu.hz = hz;
  return snapshot;
}

ProfileSnapshot take_profile_snapshot(ProfileKind kind, int thread_deadline_ms) {
  ProfileSnapshot snapshot;
  switch (kind) {
    case ProfileKind::kHeap:
    case ProfileKind::kAllocs:
      snapshot.heap = heap_snapshot();
      break;
    case ProfileKind::kMutex:
      snapshot.contention = ContentionProfiler::snapshot_mutex();
      break;
    case ProfileKind::kBlock:
      snapshot.contention = ContentionProfiler::snapshot_block();
      break;
    case ProfileKind::kThreads:
      snapshot.threads = group_threads(capture_thread_stacks(thread_deadline_ms));
      break;
    case ProfileKind::kThreadCreate:
      snapshot.threads = group_threads(live_thread_creation_stacks());
      break;
    case ProfileKind::kCpu: {
      const AgentState state = agent_state();
      if (state.cpu_on && state.cpu_store != nullptr)
        snapshot = take_cpu_snapshot(*state.cpu_store, state.config->cpu_hz);
      break;
    }
    case ProfileKind::kWall: {
      const AgentState state = agent_state();
      if (state.wall_on && state.wall_store != nullptr) {
        snapshot.wall.skipped_samples = WallSampler::skipped_samples();
        snapshot.wall.traces = collect_cpu_traces(*state.wall_store);
        snapshot.wall.dropped_samples = state.wall_store->dropped_samples();
        snapshot.wall.hz = state.config->wall_hz;
      }
      break;
    }
  }
  return snapshot;
}

void subtract_profile_snapshot(ProfileKind kind, const ProfileSnapshot& earlier,
                               ProfileSnapshot* later) {
  switch (kind) {
    case ProfileKind::kHeap:
    case ProfileKind::kAllocs:
      later->heap = heap_delta(earlier.heap, later->heap);
      break;
    case ProfileKind::kMutex:
    case ProfileKind::kBlock:
      later->contention = contention_delta(earlier.contention, later->contention);
      break;
    case ProfileKind::kThreads:
    case ProfileKind::kThreadCreate:
      later->threads = thread_group_delta(earlier.threads, later->threads);
      break;
    case ProfileKind::kCpu:
      // The store's drop counters only grow.
      later->cpu.traces = cpu_delta(earlier.cpu.traces, later->cpu.traces);
      later->cpu.dropped_samples -= earlier.cpu.dropped_samples;
      later->cpu.dropped_weight -= earlier.cpu.dropped_weight;
      break;
    case ProfileKind::kWall:
      later->wall.traces = cpu_delta(earlier.wall.traces, later->wall.traces);
      later->wall.dropped_samples -= earlier.wall.dropped_samples;
      later->wall.skipped_samples -= earlier.wall.skipped_samples;
      break;
  }
}

std::string build_profile(ProfileKind kind, const ProfileSnapshot& snapshot,
                          int64_t time_unix_ns, int64_t duration_ns, Symbolizer* symbolizer) {
  switch (kind) {
    case ProfileKind::kHeap:
    case ProfileKind::kAllocs:
      return build_heap_profile(
          snapshot.heap, heap_sampling_rate(),
          kind == ProfileKind::kHeap ? HeapProfileKind::kHeap : HeapProfileKind::kAllocs,
          time_unix_ns, symbolizer, duration_ns);
    case ProfileKind::kMutex:
    case ProfileKind::kBlock:
      return build_contention_profile(snapshot.contention, time_unix_ns, symbolizer, duration_ns);
    case ProfileKind::kThreads:
    case ProfileKind::kThreadCreate:
      return build_thread_profile(snapshot.threads,
                                  kind == ProfileKind::kThreads ? ThreadProfileKind::kThreads
                                                                : ThreadProfileKind::kThreadCreate,
                                  time_unix_ns, symbolizer);
    case ProfileKind::kCpu: {
      CpuProfileParams params;
      // hz 0: an empty snapshot (CPU profiling off), with no samples to weigh.
      if (snapshot.cpu.hz > 0) params.hz = snapshot.cpu.hz;
      params.start_unix_ns = time_unix_ns;
      params.duration_ns = duration_ns;
      params.signal = cpu_signal();
      return build_cpu_profile(snapshot.cpu.traces, snapshot.cpu.dropped_samples, params,
                               symbolizer);
    }
    case ProfileKind::kWall: {
      WallProfileParams params;
      params.hz = snapshot.wall.hz;
      params.start_unix_ns = time_unix_ns;
      params.duration_ns = duration_ns;
      params.dropped_samples = snapshot.wall.dropped_samples;
      params.skipped_samples = snapshot.wall.skipped_samples;
      return build_wall_profile(snapshot.wall.traces, params, symbolizer);
    }
  }
  return std::string();
}

}  // namespace ppagent
