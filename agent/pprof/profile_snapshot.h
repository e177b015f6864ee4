// From the recorders' state to a serialized Profile, for every kind but CPU
// (whose samples are a trace store's, cpu_profile.h): one way for the exit
// write, dumps and flushes (agent.cc) and for the live endpoint
// (live_profiles.cc), which also subtracts one snapshot from a later one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pprof/profile_kind.h"
#include "pprof/thread_profile.h"
#include "record/contention_snapshot.h"
#include "record/heap_snapshot.h"

namespace ppagent {

class Symbolizer;

// A kind's data at one moment; only its family's member is filled. The heap
// and allocs profiles are built from the same buckets.
struct ProfileSnapshot {
  std::vector<HeapBucketSnapshot> heap;        // kHeap, kAllocs
  std::vector<ContentionSnapshot> contention;  // kMutex, kBlock
  std::vector<ThreadGroup> threads;            // kThreads, kThreadCreate
};

// The recorders' state now. kThreads asks every thread for its stack and
// waits at most `thread_deadline_ms` for the answers.
ProfileSnapshot take_profile_snapshot(ProfileKind kind, int thread_deadline_ms = 0);

// What happened between two snapshots of `kind`: *later becomes later minus
// earlier.
void subtract_profile_snapshot(ProfileKind kind, const ProfileSnapshot& earlier,
                               ProfileSnapshot* later);

// The serialized (uncompressed) Profile, symbolized in this process.
// `duration_ns`: the window of a difference, else 0 (a thread profile is a
// moment, and has none).
std::string build_profile(ProfileKind kind, const ProfileSnapshot& snapshot,
                          int64_t time_unix_ns, int64_t duration_ns, Symbolizer* symbolizer);

}  // namespace ppagent
