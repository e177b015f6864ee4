// The stack walk done inside the SIGPROF handler, and the module tables it
// reads. Everything the walk touches is prepared by ModuleTables::refresh()
// in normal context and published as an immutable snapshot.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <ucontext.h>
#include <unordered_map>
#include <vector>

#include "frame_table.h"

namespace ppagent {

// Where the current thread's stack lies; zero when unknown (then every read
// goes through a fault-safe system call instead of a direct load).
struct StackBounds {
  uintptr_t low = 0, high = 0;
};

class ModuleTables {
 public:
  // Normal context only. Re-reads the list of loaded objects when it changed
  // (or when `force`), compiles rules for new ones and publishes a new snapshot.
  // Until then, a walk stops at a pc in code loaded since the last refresh.
  void refresh(bool force = false);

  // Async-signal-safe. Walks from the interrupted context into `pcs` (leaf
  // first; callers are return addresses). Returns the number of frames.
  int walk(const ucontext_t* context, StackBounds bounds, uintptr_t* pcs, int max_depth);
  // The same from bare registers. `fp_known` false: rbp is not known (a
  // thread seen from outside, where only its pc and sp are), so the walk
  // stops at a frame that needs it unless an inner frame restored it.
  int walk_registers(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool fp_known, StackBounds bounds,
                     uintptr_t* pcs, int max_depth);

  size_t rule_count() const;  // for tests and diagnostics

  // Where signal handlers return to (glibc's __restore_rt, the sa_restorer
  // of its sigaction): a walk that reaches it goes on from the registers the
  // kernel saved for the interrupted code, so that a thread caught inside a
  // signal handler shows what it was doing before.
  void note_signal_return(uintptr_t address) { signal_return_.store(address); }

 private:
  struct Range {
    uintptr_t start, end, bias;
    const FrameRule* rules;
    size_t count;
  };
  struct Snapshot {
    std::vector<Range> ranges;  // sorted by start
  };
  struct Compiled {
    std::vector<FrameRule> rules;
  };

  const FrameRule* find(const Snapshot* s, uintptr_t pc) const;

  std::mutex refresh_mutex_;
  uint64_t seen_adds_ = 0, seen_subs_ = 0;
  // Compiled tables, kept for the life of the process: a module that is
  // dlclosed and opened again reuses its table (bounded by distinct modules).
  std::unordered_map<std::string, std::unique_ptr<Compiled>> compiled_;
  std::atomic<Snapshot*> current_{nullptr};
  std::vector<Snapshot*> retired_;
  std::atomic<int> walks_in_flight_{0};
  std::atomic<uintptr_t> signal_return_{0};
};

// The calling thread's stack bounds, as last noted on this thread.
StackBounds current_thread_stack();
// Notes where the calling thread's stack lies (normal context only).
void note_current_thread_stack();

// Reads 8 bytes at `addr` without faulting. Used where the stack bounds are
// unknown (or the pc is outside them, e.g. on an alternate signal stack).
bool safe_read_word(uintptr_t addr, uintptr_t* out);

}  // namespace ppagent
