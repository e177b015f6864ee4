#include "pprof/profile_kind.h"

namespace ppagent {

const ProfileKindInfo kProfileKinds[kProfileKindCount] = {
    {ProfileKind::kAllocs, "allocs", "allocs", nullptr,
     "A sampling of all past memory allocations", &AgentState::heap_on,
     "allocs profile is off: set PPROF_MEM_RATE=N (ppagent run --mem-rate N) to record it", true},
    {ProfileKind::kBlock, "block", "block", nullptr,
     "Stack traces that led to blocking on synchronization primitives (condition variables, "
     "joins)",
     &AgentState::block_on,
     "block profile is off: set PPROF_BLOCK_RATE=NS (ppagent run --block-rate NS) to record it",
     true},
    {ProfileKind::kThreads, "threads", "goroutine", "threads",
     "Stack traces of all current threads, one sample per distinct stack", nullptr, nullptr, false},
    {ProfileKind::kHeap, "heap", "heap", nullptr,
     "A sampling of memory allocations of live objects", &AgentState::heap_on,
     "heap profile is off: set PPROF_MEM_RATE=N (ppagent run --mem-rate N) to record it", true},
    {ProfileKind::kMutex, "mutex", "mutex", nullptr, "Stack traces of holders of contended mutexes",
     &AgentState::mutex_on,
     "mutex profile is off: set PPROF_MUTEX_FRACTION=N (ppagent run --mutex-fraction N) to record "
     "it",
     true},
    {ProfileKind::kCpu, "cpu", "profile", nullptr,
     "CPU profile. You can specify the duration in the seconds GET parameter (default 30). "
     "After you get the profile file, use the go tool pprof command to investigate the profile.",
     nullptr, nullptr, true},
    {ProfileKind::kThreadCreate, "threadcreate", "threadcreate", nullptr,
     "Stack traces that led to the creation of the threads alive now", nullptr, nullptr, false},
    {ProfileKind::kWall, "wall", "wall", nullptr,
     "Wall-clock time of every thread, running or waiting, with its state and system call "
     "(not in Go). You can specify the duration in the seconds GET parameter; without it, "
     "the whole run so far.",
     &AgentState::wall_on,
     "wall profile is off: set PPROF_WALL_HZ=N (ppagent run --wall-hz N) to record it", true},
};
static_assert(static_cast<size_t>(ProfileKind::kWall) + 1 == kProfileKindCount,
              "a row for every kind");

const ProfileKindInfo& profile_kind_info(ProfileKind kind) {
  for (const ProfileKindInfo& info : kProfileKinds)
    if (info.kind == kind) return info;
  return kProfileKinds[0];  // every enumerator has a row
}

bool profile_kind_by_url_name(std::string_view name, ProfileKind* kind) {
  for (const ProfileKindInfo& info : kProfileKinds)
    if (name == info.url_name || (info.url_alias != nullptr && name == info.url_alias)) {
      *kind = info.kind;
      return true;
    }
  return false;
}

}  // namespace ppagent
