#include "record/trace_store.h"

#include <cstring>
#include <sys/mman.h>

namespace ppagent {

namespace {

uint64_t hash_trace(const TraceKey& key) {
  // FNV-1a over the thread, its name and the frames, then a final mix.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  mix(static_cast<uint32_t>(key.tid));
  mix(static_cast<uint32_t>(key.tag));
  for (int i = 0; i < 16 && key.thread_name[i]; i++) mix(static_cast<uint8_t>(key.thread_name[i]));
  for (int i = 0; i < key.depth; i++) mix(key.pcs[i]);
  h ^= h >> 29;
  return h == 0 ? 1 : h;
}

constexpr size_t kMaxProbes = 64;

}  // namespace

TraceStore::TraceStore(size_t max_traces, size_t max_frames) {
  slot_count_ = 1;
  while (slot_count_ < max_traces) slot_count_ <<= 1;
  frame_capacity_ = max_frames;
  size_t slot_bytes = slot_count_ * sizeof(Slot);
  size_t claimed_bytes = slot_count_ * sizeof(std::atomic<uint32_t>);
  mapped_bytes_ = slot_bytes + claimed_bytes + frame_capacity_ * sizeof(uintptr_t);
  // Untouched pages cost no memory; MAP_NORESERVE keeps overcommit accounting out of it.
  void* mem = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;
  slots_ = static_cast<Slot*>(mem);  // zeroed memory is a valid empty Slot
  claimed_ = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(mem) + slot_bytes);
  frames_ = reinterpret_cast<uintptr_t*>(static_cast<char*>(mem) + slot_bytes + claimed_bytes);
}

TraceStore::~TraceStore() {
  if (slots_) munmap(slots_, mapped_bytes_);
}

bool TraceStore::matches(const Slot& slot, const TraceKey& key) const {
  return slot.tid == key.tid && slot.depth == key.depth && slot.tag == key.tag &&
         strncmp(slot.thread_name, key.thread_name, 16) == 0 &&
         memcmp(&frames_[slot.frames], key.pcs, key.depth * sizeof(uintptr_t)) == 0;
}

void TraceStore::count_dropped(uint64_t weight) {
  dropped_samples_.fetch_add(1, std::memory_order_relaxed);
  dropped_weight_.fetch_add(weight, std::memory_order_relaxed);
}

void TraceStore::add_to_slot(size_t slot, uint64_t weight, uint64_t samples) {
  slots_[slot].weight.fetch_add(weight, std::memory_order_relaxed);
  slots_[slot].samples.fetch_add(samples, std::memory_order_relaxed);
}

bool TraceStore::add(const TraceKey& key, uint64_t weight, uint64_t samples, size_t* slot_out) {
  if (slot_out) *slot_out = kNoSlot;
  if (!slots_) {
    count_dropped(weight);
    return false;
  }
  const uint64_t h = hash_trace(key);
  size_t index = h & (slot_count_ - 1);
  for (size_t probe = 0; probe < kMaxProbes; probe++, index = (index + 1) & (slot_count_ - 1)) {
    Slot& slot = slots_[index];
    uint64_t seen = slot.hash.load(std::memory_order_acquire);
    if (seen == 0) {
      if (!slot.hash.compare_exchange_strong(seen, h, std::memory_order_acq_rel)) {
        if (seen != h) continue;  // taken by another trace
      } else {
        size_t at = frames_used_.fetch_add(key.depth, std::memory_order_relaxed);
        if (at + key.depth > frame_capacity_) {
          // The slot stays claimed but never ready: harmless, skipped by readers.
          count_dropped(weight);
          return false;
        }
        memcpy(&frames_[at], key.pcs, key.depth * sizeof(uintptr_t));
        slot.frames = at;
        slot.tid = key.tid;
        slot.depth = key.depth;
        slot.tag = key.tag;
        memcpy(slot.thread_name, key.thread_name, 16);
        slot.weight.fetch_add(weight, std::memory_order_relaxed);
        slot.samples.fetch_add(samples, std::memory_order_relaxed);
        slot.ready.store(1, std::memory_order_release);
        // Each slot is claimed once, so the list never outgrows the table.
        claimed_[claimed_count_.fetch_add(1, std::memory_order_relaxed)].store(
            static_cast<uint32_t>(index + 1), std::memory_order_release);
        if (slot_out) *slot_out = index;
        return true;
      }
    }
    if (seen != h) continue;
    // Same hash: if the slot is still being written by another thread, do not
    // wait for it (it may be preempted); probing on may store a duplicate,
    // which readers merge.
    if (slot.ready.load(std::memory_order_acquire) && matches(slot, key)) {
      slot.weight.fetch_add(weight, std::memory_order_relaxed);
      slot.samples.fetch_add(samples, std::memory_order_relaxed);
      if (slot_out) *slot_out = index;
      return true;
    }
  }
  count_dropped(weight);
  return false;
}

void TraceStore::for_each(
    const std::function<void(const TraceKey&, uint64_t, uint64_t)>& visit) const {
  if (!slots_) return;
  const size_t claimed = claimed_count_.load(std::memory_order_acquire);
  for (size_t i = 0; i < claimed && i < slot_count_; i++) {
    const uint32_t index_plus_one = claimed_[i].load(std::memory_order_acquire);
    if (index_plus_one == 0) continue;  // still being added
    const Slot& slot = slots_[index_plus_one - 1];
    if (slot.hash.load(std::memory_order_acquire) == 0 ||
        !slot.ready.load(std::memory_order_acquire))
      continue;
    TraceKey key;
    key.tid = slot.tid;
    memcpy(key.thread_name, slot.thread_name, 16);
    key.pcs = &frames_[slot.frames];
    key.depth = slot.depth;
    key.tag = slot.tag;
    visit(key, slot.weight.load(std::memory_order_relaxed),
          slot.samples.load(std::memory_order_relaxed));
  }
}

}  // namespace ppagent
