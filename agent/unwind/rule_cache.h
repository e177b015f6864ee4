// Rules already evaluated, by pc, so that a pc sampled again is not
// evaluated again. Each rule is stored with the generation of the module it
// came from (a number the module tables give each module they note, and give
// anew when a module is loaded again), so that rules of an unloaded module
// miss and nothing else is dropped. Fixed size and direct-mapped; each entry is guarded by its
// own sequence number (a seqlock) and nothing ever waits: a writer that finds
// the entry being written skips, a reader that sees it change treats it as a
// miss. Async-signal-safe, so a handler may interrupt a writer of the same
// entry on its own thread. The memory is mapped once, and its pages made
// present together on the first lookup (rule_cache.cc says why).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "unwind/frame_rule.h"

namespace ppagent {

class RuleCache {
 public:
  // 128 KiB. Each page is faulted in when first used, and a fault costs ~6 us
  // on the VMs we measure on: 16,384 entries made a short python3 run pay
  // ~1 ms in faults in its handlers. A miss costs the rule's evaluation, ~80 ns.
  static constexpr size_t kDefaultEntries = 4096;

  // `entries` is rounded up to a power of two. ok() is false if the memory
  // could not be mapped (then nothing is cached).
  explicit RuleCache(size_t entries = kDefaultEntries);
  ~RuleCache();
  RuleCache(const RuleCache&) = delete;
  RuleCache& operator=(const RuleCache&) = delete;

  bool ok() const { return entries_ != nullptr; }
  size_t mapped_bytes() const;

  // The rule stored for `pc` under `generation` (its module's); false on a
  // miss, including an entry being written right now or stored under another
  // generation.
  bool lookup(uintptr_t pc, uint32_t generation, FrameRule* rule) const;
  // Stores the rule for `pc`, replacing whatever the entry held; skipped
  // when another writer (or an interrupted one) holds the entry.
  void store(uintptr_t pc, uint32_t generation, const FrameRule& rule);

 private:
  struct Entry;
  size_t index(uintptr_t pc) const;
  void populate_once() const;

  Entry* entries_ = nullptr;
  mutable std::atomic<bool> populated_{false};
  size_t count_ = 0;
  int shift_ = 0;
};

// The process's cache, mapped by ensure_rule_cache(); nullptr before, or if
// it could not be mapped (one `ppagent:` line; walks then evaluate every frame).
RuleCache* rule_cache();
void ensure_rule_cache();  // normal context

}  // namespace ppagent
