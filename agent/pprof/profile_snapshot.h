// From the recorders' state to a serialized Profile, for every kind: one way
// for the exit write, dumps and flushes (agent.cc) and for the live endpoint
// (live_profiles.cc), which also subtracts one snapshot from a later one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pprof/cpu_profile.h"
#include "pprof/profile_kind.h"
#include "pprof/thread_profile.h"
#include "record/contention_snapshot.h"
#include "record/heap_snapshot.h"

namespace ppagent {

class Symbolizer;
class TraceStore;

// CPU samples at one moment: a trace store's traces, what it had to drop,
// and the rate they were taken at (a sample's weight is in timer periods).
struct CpuSnapshot {
  std::vector<CpuTrace> traces;
  uint64_t dropped_samples = 0, dropped_weight = 0;
  int hz = 0;
};

// Wall samples at one moment: as CPU's, in nanoseconds, and the thread
// samples that ticks out of time left for later (counts only up).
struct WallSnapshot {
  std::vector<CpuTrace> traces;
  uint64_t dropped_samples = 0, skipped_samples = 0;
  int hz = 0;
};

// A kind's data at one moment; only its family's member is filled. The heap
// and allocs profiles are built from the same buckets.
struct ProfileSnapshot {
  std::vector<HeapBucketSnapshot> heap;        // kHeap, kAllocs
  std::vector<ContentionSnapshot> contention;  // kMutex, kBlock
  std::vector<ThreadGroup> threads;            // kThreads, kThreadCreate
  CpuSnapshot cpu;                             // kCpu
  WallSnapshot wall;                           // kWall
};

// The recorders' state now. kThreads asks every thread for its stack and
// waits at most `thread_deadline_ms` for the answers. kCpu and kWall read
// the whole run's trace store (empty when that profiling is off).
ProfileSnapshot take_profile_snapshot(ProfileKind kind, int thread_deadline_ms = 0);

// kCpu's snapshot of any trace store, sampled at `hz`: a live window that
// ran a sampler of its own has a store that is not the whole run's.
ProfileSnapshot take_cpu_snapshot(const TraceStore& store, int hz);

// What happened between two snapshots of `kind`: *later becomes later minus
// earlier.
void subtract_profile_snapshot(ProfileKind kind, const ProfileSnapshot& earlier,
                               ProfileSnapshot* later);

// The serialized (uncompressed) Profile, symbolized in this process.
// `time_unix_ns` and `duration_ns`: when the profile's window started and how
// long it was; a moment has a duration of 0 (a thread profile is always one).
// CPU's window is the time its samples were taken over: the whole run, or a
// live window.
std::string build_profile(ProfileKind kind, const ProfileSnapshot& snapshot,
                          int64_t time_unix_ns, int64_t duration_ns, Symbolizer* symbolizer);

}  // namespace ppagent
