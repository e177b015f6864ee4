#include "unwind/unload_guard.h"

#include <atomic>
#include <ctime>

#include "base/log.h"

namespace ppagent {

namespace {
std::atomic<int> g_walks_in_flight{0};
std::atomic<int> g_unloads_in_progress{0};
std::atomic<bool> g_slow_walk_logged{false};
}  // namespace

// Sequentially consistent on both sides (Dekker): either the walk sees the
// unload's mark, or the unload sees the walk's count.
WalkGuard::WalkGuard() {
  g_walks_in_flight.fetch_add(1, std::memory_order_seq_cst);
  counted_ = g_unloads_in_progress.load(std::memory_order_seq_cst) == 0;
  if (!counted_) g_walks_in_flight.fetch_sub(1, std::memory_order_seq_cst);
}

WalkGuard::~WalkGuard() {
  if (counted_) g_walks_in_flight.fetch_sub(1, std::memory_order_seq_cst);
}

int walks_reading_modules() { return g_walks_in_flight.load(std::memory_order_seq_cst); }

void begin_unload() {
  g_unloads_in_progress.fetch_add(1, std::memory_order_seq_cst);
  // A walk takes microseconds; the wait is long only for a thread stopped
  // (or descheduled) in the middle of one.
  constexpr long kPauseNs = 20000;
  constexpr long kGiveUpNs = 2000000000;
  for (long waited = 0; g_walks_in_flight.load(std::memory_order_seq_cst) != 0; waited += kPauseNs) {
    if (waited >= kGiveUpNs) {
      // Waiting on is a certain hang (a walk interrupted by a handler that
      // waits for this very unload); going on risks only that one walk.
      if (!g_slow_walk_logged.exchange(true))
        log_line("a stack walk has been in flight for 2 s; dlclose goes ahead without waiting for it");
      return;
    }
    struct timespec pause = {0, kPauseNs};
    nanosleep(&pause, nullptr);
  }
}

void end_unload() { g_unloads_in_progress.fetch_sub(1, std::memory_order_seq_cst); }

void reset_unload_guard_in_child() {
  g_walks_in_flight.store(0);
  g_unloads_in_progress.store(0);
}

}  // namespace ppagent
