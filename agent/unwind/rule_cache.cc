#include "unwind/rule_cache.h"

#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "base/log.h"

namespace ppagent {

// Fields are separate atomics (relaxed) so that a torn read is well defined;
// the sequence number tells whether it was torn.
struct RuleCache::Entry {
  std::atomic<uint32_t> sequence;    // odd while being written
  std::atomic<uint32_t> generation;  // of the rule's module; 0: never written
  std::atomic<uint64_t> pc;
  std::atomic<uint64_t> offsets;     // cfa_offset | ra_offset << 32
  std::atomic<uint64_t> shape;       // cfa_base | fp_offset << 8 | deref_addend << 24 |
                                     // pc_offset << 32
};
static_assert(sizeof(std::atomic<uint64_t>) == 8 && std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "cache entries must be lock-free to be used in signal handlers");

RuleCache::RuleCache(size_t entries) {
  count_ = 1;
  shift_ = 64;
  while (count_ < entries) {
    count_ <<= 1;
    shift_--;
  }
  void* memory = mmap(nullptr, count_ * sizeof(Entry), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory != MAP_FAILED) entries_ = static_cast<Entry*>(memory);  // zero-filled: all empty
}

RuleCache::~RuleCache() {
  if (entries_) munmap(entries_, count_ * sizeof(Entry));
}

size_t RuleCache::mapped_bytes() const { return entries_ ? count_ * sizeof(Entry) : 0; }

size_t RuleCache::index(uintptr_t pc) const {
  // Fibonacci hashing: neighbouring pcs (a function's call sites) spread out.
  return count_ == 1 ? 0 : static_cast<size_t>((pc * 0x9e3779b97f4a7c15ull) >> shift_);
}

// The first use maps all of the cache's pages in one system call. Page by
// page, a short process's first samples paid one fault for reading an entry
// and another for writing it, on nearly every page: ~28 faults (~6 us each on
// the VMs we measure on) in the handlers of a `python3 -c pass` with three
// CPU samples. A process that takes no sample never maps them. madvise is a
// system call and nothing else, so a handler may make it; where the kernel
// lacks MADV_POPULATE_WRITE (before 5.14) the pages fault in as before.
void RuleCache::populate_once() const {
  if (populated_.exchange(true, std::memory_order_relaxed)) return;
  const int saved_errno = errno;
  madvise(entries_, count_ * sizeof(Entry), MADV_POPULATE_WRITE);
  errno = saved_errno;
}

bool RuleCache::lookup(uintptr_t pc, uint32_t generation, FrameRule* rule) const {
  if (entries_ == nullptr) return false;
  if (__builtin_expect(!populated_.load(std::memory_order_relaxed), 0)) populate_once();
  const Entry& e = entries_[index(pc)];
  const uint32_t before = e.sequence.load(std::memory_order_acquire);
  if (before & 1) return false;
  const uint32_t stored_generation = e.generation.load(std::memory_order_relaxed);
  const uint64_t stored_pc = e.pc.load(std::memory_order_relaxed);
  const uint64_t offsets = e.offsets.load(std::memory_order_relaxed);
  const uint64_t shape = e.shape.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  if (e.sequence.load(std::memory_order_relaxed) != before) return false;
  if (stored_generation != generation || stored_pc != pc) return false;
  rule->cfa_offset = static_cast<int32_t>(static_cast<uint32_t>(offsets));
  rule->ra_offset = static_cast<int32_t>(static_cast<uint32_t>(offsets >> 32));
  rule->cfa_base = static_cast<FrameRule::CfaBase>(shape & 0xff);
  rule->fp_offset = static_cast<int16_t>(static_cast<uint16_t>(shape >> 8));
  rule->deref_addend = static_cast<uint8_t>(shape >> 24);
  rule->pc_offset = static_cast<uint32_t>(shape >> 32);
  return true;
}

void RuleCache::store(uintptr_t pc, uint32_t generation, const FrameRule& rule) {
  if (entries_ == nullptr) return;
  Entry& e = entries_[index(pc)];
  uint32_t sequence = e.sequence.load(std::memory_order_relaxed);
  if ((sequence & 1) ||
      !e.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_relaxed))
    return;
  // Readers that see any field below also see the odd sequence number.
  std::atomic_thread_fence(std::memory_order_release);
  e.generation.store(generation, std::memory_order_relaxed);
  e.pc.store(pc, std::memory_order_relaxed);
  e.offsets.store(static_cast<uint32_t>(rule.cfa_offset) |
                      static_cast<uint64_t>(static_cast<uint32_t>(rule.ra_offset)) << 32,
                  std::memory_order_relaxed);
  e.shape.store(static_cast<uint64_t>(rule.cfa_base) |
                    static_cast<uint64_t>(static_cast<uint16_t>(rule.fp_offset)) << 8 |
                    static_cast<uint64_t>(rule.deref_addend) << 24 |
                    static_cast<uint64_t>(rule.pc_offset) << 32,
                std::memory_order_relaxed);
  e.sequence.store(sequence + 2, std::memory_order_release);
}

namespace {
std::atomic<RuleCache*> g_cache{nullptr};
}  // namespace

RuleCache* rule_cache() { return g_cache.load(std::memory_order_acquire); }

void ensure_rule_cache() {
  static std::atomic<bool> tried{false};
  if (tried.exchange(true)) return;
  auto* cache = new RuleCache();
  if (!cache->ok()) {
    log_line("cannot map memory for the unwind rule cache (%s); stacks are unwound without it",
             strerror(errno));
    delete cache;
    return;
  }
  g_cache.store(cache, std::memory_order_release);
}

}  // namespace ppagent
