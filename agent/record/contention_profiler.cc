#include "record/contention_profiler.h"

#include <ctime>
#include <map>
#include <cstring>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "base/clock.h"
#include "base/thread_random.h"
#include "record/trace_store.h"
#include "unwind/caller_stack.h"

namespace ppagent {

std::atomic<bool> g_lock_profiling{false};
std::atomic<int> g_lock_waiters{0};

namespace {

long g_mutex_fraction = 0;
long long g_block_rate = 0;
ModuleTables* g_tables = nullptr;

int64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }

// ---- the side table of waiters, per lock --------------------------------
struct WaitEntry {
  const void* lock = nullptr;
  int64_t waiters = 0;
  int64_t start_sum = 0;   // sum of the waiters' effective start times
  int64_t last_reset = 0;  // the last release moved every start to this
};

constexpr size_t kStripes = 256, kEntriesPerStripe = 8;
struct Stripe {
  std::atomic_flag busy = ATOMIC_FLAG_INIT;
  WaitEntry entries[kEntriesPerStripe];
};
Stripe g_stripes[kStripes];

// A spin lock: held for a few instructions, never across a call that could
// block, so a plain atomic flag is enough (and cannot re-enter the hooks).
class StripeGuard {
 public:
  explicit StripeGuard(const void* lock)
      : stripe_(g_stripes[(reinterpret_cast<uintptr_t>(lock) >> 4) * 0x9e3779b97f4a7c15ull >> 56]) {
    while (stripe_.busy.test_and_set(std::memory_order_acquire)) sched_yield();
  }
  ~StripeGuard() { stripe_.busy.clear(std::memory_order_release); }
  WaitEntry* find(const void* lock, bool create) {
    WaitEntry* free_entry = nullptr;
    for (WaitEntry& e : stripe_.entries) {
      if (e.lock == lock) return &e;
      if (e.lock == nullptr && free_entry == nullptr) free_entry = &e;
    }
    if (create && free_entry) {
      *free_entry = WaitEntry{lock, 0, 0, 0};
      return free_entry;
    }
    return nullptr;
  }

 private:
  Stripe& stripe_;
};

// ---- recorded events, by stack: lock-free stores, so that threads
// recording contention do not contend on the recording.
constexpr size_t kMaxStacks = 16384, kFramesPerStack = 64;
TraceStore* g_mutex_events = nullptr;
TraceStore* g_block_events = nullptr;

void record(TraceStore* events, int64_t count, int64_t delay_ns) {
  AgentScope scope;
  uintptr_t pcs[kMaxStackDepth];
  TraceKey key;
  key.tid = 0;
  memset(key.thread_name, 0, sizeof key.thread_name);
  key.pcs = pcs;
  key.depth = capture_caller_stack(g_tables, pcs, kMaxStackDepth);
  events->add(key, static_cast<uint64_t>(delay_ns), static_cast<uint64_t>(count));
}

// Go's block-profile sampling: keep every wait of at least `rate`, a shorter
// one with probability d/rate, counted as rate/d events and rate ns.
void record_block(int64_t delay_ns) {
  if (delay_ns <= 0) delay_ns = 1;
  if (delay_ns >= g_block_rate) {
    record(g_block_events, 1, delay_ns);
  } else if (thread_random_unit() * static_cast<double>(g_block_rate) < static_cast<double>(delay_ns)) {
    record(g_block_events, g_block_rate / delay_ns, g_block_rate);
  }
}

// Go's mutex-profile sampling: 1 in `fraction` events, counted `fraction` times.
void record_mutex(int64_t delay_ns) {
  if (g_mutex_fraction > 1 && thread_random_unit() * static_cast<double>(g_mutex_fraction) >= 1.0) return;
  record(g_mutex_events, g_mutex_fraction, delay_ns * g_mutex_fraction);
}

std::vector<ContentionSnapshot> snapshot_of(const TraceStore* events) {
  std::vector<ContentionSnapshot> out;
  if (events == nullptr) return out;
  AgentScope scope;
  // A stack may sit in two slots (see TraceStore::add): merge.
  std::map<std::vector<uintptr_t>, std::pair<int64_t, int64_t>> merged;
  events->for_each([&](const TraceKey& key, uint64_t delay, uint64_t count) {
    auto& m = merged[std::vector<uintptr_t>(key.pcs, key.pcs + key.depth)];
    m.first += static_cast<int64_t>(count);
    m.second += static_cast<int64_t>(delay);
  });
  for (auto& [stack, totals] : merged) out.push_back({stack, totals.first, totals.second});
  return out;
}

}  // namespace

void ContentionProfiler::start(long mutex_fraction, long long block_rate_ns, ModuleTables* tables) {
  AgentScope scope;
  g_tables = tables;
  g_mutex_fraction = mutex_fraction;
  g_block_rate = block_rate_ns;
  if (mutex_fraction > 0) g_mutex_events = new TraceStore(kMaxStacks, kMaxStacks * kFramesPerStack);
  if (block_rate_ns > 0) g_block_events = new TraceStore(kMaxStacks, kMaxStacks * kFramesPerStack);
  g_lock_profiling.store(mutex_fraction > 0 || block_rate_ns > 0, std::memory_order_release);
}

bool ContentionProfiler::mutex_on() { return g_mutex_fraction > 0; }
bool ContentionProfiler::block_on() { return g_block_rate > 0; }

ContentionProfiler::Wait ContentionProfiler::begin_wait(const void* lock) {
  Wait wait{now_ns(), false};
  if (lock == nullptr || g_mutex_fraction <= 0) return wait;
  StripeGuard guard(lock);
  if (WaitEntry* e = guard.find(lock, true)) {
    // A release between our clock read and now already moved all starts.
    int64_t effective = wait.start_ns > e->last_reset ? wait.start_ns : e->last_reset;
    e->waiters++;
    e->start_sum += effective;
    wait.tracked = true;
    g_lock_waiters.fetch_add(1, std::memory_order_relaxed);
  }
  return wait;
}

void ContentionProfiler::end_wait(const void* lock, const Wait& wait, bool counts) {
  int64_t end = now_ns();
  if (wait.tracked) {
    StripeGuard guard(lock);
    if (WaitEntry* e = guard.find(lock, false)) {
      e->start_sum -= wait.start_ns > e->last_reset ? wait.start_ns : e->last_reset;
      if (--e->waiters == 0) *e = WaitEntry{};
    }
    g_lock_waiters.fetch_sub(1, std::memory_order_relaxed);
  }
  if (counts && g_block_rate > 0) record_block(end - wait.start_ns);
}

int64_t ContentionProfiler::charge_release(const void* lock) {
  if (g_mutex_fraction <= 0) return 0;
  StripeGuard guard(lock);
  WaitEntry* e = guard.find(lock, false);
  if (e == nullptr || e->waiters == 0) return 0;
  int64_t now = now_ns();
  int64_t delay = e->waiters * now - e->start_sum;
  e->start_sum = e->waiters * now;
  e->last_reset = now;
  return delay;
}

void ContentionProfiler::record_release(int64_t delay_ns) {
  if (delay_ns > 0) record_mutex(delay_ns);
}

std::vector<ContentionSnapshot> ContentionProfiler::snapshot_mutex() { return snapshot_of(g_mutex_events); }
std::vector<ContentionSnapshot> ContentionProfiler::snapshot_block() { return snapshot_of(g_block_events); }

// A child forgets the parent's waiters (and any spin lock a parent thread
// held at the fork) and the parent's events: its profiles tell what the
// child did. Only the forking thread exists here, so the stores can be
// replaced under nobody's feet.
void ContentionProfiler::child_after_fork(bool keep_recording) {
  for (Stripe& s : g_stripes) {
    s.busy.clear();
    for (WaitEntry& e : s.entries) e = WaitEntry{};
  }
  g_lock_waiters.store(0);
  AgentScope scope;
  if (!keep_recording) {
    g_lock_profiling.store(false, std::memory_order_release);
    g_mutex_fraction = 0;
    g_block_rate = 0;
  }
  for (TraceStore** events : {&g_mutex_events, &g_block_events}) {
    if (*events == nullptr) continue;
    delete *events;
    *events = keep_recording ? new TraceStore(kMaxStacks, kMaxStacks * kFramesPerStack) : nullptr;
  }
}

}  // namespace ppagent
