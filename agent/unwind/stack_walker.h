// The stack walk done inside signal handlers, and the module tables it reads.
// refresh() records, in normal context, where each loaded object and its
// .eh_frame_hdr are, and publishes that as an immutable snapshot; a walk
// finds the unwind rule of each pc in place, on demand (cfa_evaluator.h),
// and keeps it in a process-wide cache (rule_cache.h) under its module's
// generation. Costs follow the pcs sampled, not the size of the code loaded.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <ucontext.h>
#include <vector>

#include "unwind/frame_rule.h"
#include "unwind/module_view.h"

namespace ppagent {

// The deepest stack the agent records: a sample's, an allocation's or a wait's
// frames beyond it are left out.
constexpr int kMaxStackDepth = 128;

// Where the current thread's stack lies; zero when unknown (then every read
// goes through a fault-safe system call instead of a direct load).
struct StackBounds {
  uintptr_t low = 0, high = 0;
  // For a walk of another thread (walk_registers from outside): its stack's
  // bytes from low to high, copied beforehand with one fault-safe read, so
  // that the walk reads them from here instead of a system call per word.
  // Words outside still go through the fault-safe read.
  const unsigned char* copy = nullptr;
};

class ModuleTables {
 public:
  ModuleTables() = default;
  ~ModuleTables();  // only when no walk can use it any more
  ModuleTables(const ModuleTables&) = delete;
  ModuleTables& operator=(const ModuleTables&) = delete;

  // Normal context only. Re-reads the list of loaded objects when it changed
  // (or when `force`) and publishes a new snapshot: microseconds per object,
  // none of their code or tables read. Until then, a walk stops at a pc in
  // code loaded since the last refresh.
  void refresh(bool force = false);

  // Async-signal-safe. Walks from the interrupted context into `pcs` (leaf
  // first; callers are return addresses). Returns the number of frames.
  int walk(const ucontext_t* context, StackBounds bounds, uintptr_t* pcs, int max_depth);
  // The same from bare registers. `fp_known` false: rbp is not known (a
  // thread seen from outside, where only its pc and sp are), so the walk
  // stops at a frame that needs it unless an inner frame restored it.
  int walk_registers(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool fp_known, StackBounds bounds,
                     uintptr_t* pcs, int max_depth);

  // Normal context. dlclose(handle) through `real_dlclose` once no walk is
  // reading any module's memory, then a refresh (unload_guard.h). The
  // interposed dlclose calls this for the agent's tables (the process has one).
  int unload(void* handle, int (*real_dlclose)(void*));

  size_t module_count() const;  // for tests and diagnostics
  // The generation of the module holding `pc` (module_view.h), 0 if none.
  uint32_t module_generation(uintptr_t pc) const;

  // Where signal handlers return to (glibc's __restore_rt, the sa_restorer
  // of its sigaction): a walk that reaches it goes on from the registers the
  // kernel saved for the interrupted code, so that a thread caught inside a
  // signal handler shows what it was doing before.
  void note_signal_return(uintptr_t address) { signal_return_.store(address); }

 private:
  struct Range {
    uintptr_t start, end;  // executable code of modules[module]
    size_t module;
  };
  struct Snapshot {
    std::vector<LoadedModule> modules;
    std::vector<Range> ranges;  // sorted by start
  };

  static const LoadedModule* module_at(const Snapshot* snapshot, uintptr_t pc);
  static bool rule_at(const Snapshot* snapshot, bool may_read_modules, uintptr_t pc,
                      FrameRule* rule);

  std::mutex refresh_mutex_;
  uint64_t seen_adds_ = 0, seen_subs_ = 0;
  std::atomic<Snapshot*> current_{nullptr};
  std::vector<Snapshot*> retired_;
  std::atomic<int> walks_in_flight_{0};  // walks that may read a snapshot
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
