// Mutex and block profiling with Go's semantics. The lock hooks
// (interpose_locks.cc) call in here only on the contended path: when a
// trylock failed, around a wait, or at a release while some thread waits.
//
// Mutex profile: at each release, the waiting that the release ends is
// charged to the releasing thread's stack. Per lock, a side table keeps the
// number of waiters and the sum of their (effective) start times only while
// waiters exist; a release charges waiters * now - sum and moves every start
// to now, so that no moment of waiting is charged twice.
// Block profile: each wait, charged to the waiting thread's stack.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "record/contention_snapshot.h"
#include "unwind/stack_walker.h"

namespace ppagent {

// True when either profile is on: the lock hooks test it first.
extern std::atomic<bool> g_lock_profiling;
// Threads currently waiting on a lock tracked for the mutex profile; while it
// is zero, releases need not look at the side table.
extern std::atomic<int> g_lock_waiters;

class ContentionProfiler {
 public:
  static void start(long mutex_fraction, long long block_rate_ns, ModuleTables* tables);
  static bool mutex_on();
  static bool block_on();

  struct Wait {
    int64_t start_ns;
    bool tracked;  // in the side table, for the mutex profile
  };
  // The calling thread is about to block. `lock` is a mutex or rwlock whose
  // releases the mutex profile charges, or null for other waits.
  static Wait begin_wait(const void* lock);
  // The wait is over; `counts` says whether it was a real wait to record in
  // the block profile (a wait that failed at once, e.g. EINVAL, is not).
  static void end_wait(const void* lock, const Wait& wait, bool counts);
  // The calling thread is about to release `lock` while g_lock_waiters > 0:
  // returns the waiting this release ends (and starts the waiters afresh).
  // Record it with record_release once the lock is released, so that the
  // recording does not lengthen the critical section.
  static int64_t charge_release(const void* lock);
  static void record_release(int64_t delay_ns);

  static std::vector<ContentionSnapshot> snapshot_mutex();
  static std::vector<ContentionSnapshot> snapshot_block();

  // In a forked child: forget the parent's waiters and events; stop
  // recording unless `keep_recording` (the child is profiled too).
  static void child_after_fork(bool keep_recording);
};

}  // namespace ppagent
