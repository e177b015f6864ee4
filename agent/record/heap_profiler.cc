#include "record/heap_profiler.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ctime>
#include <unistd.h>
#include <unordered_map>

#include "base/agent_scope.h"
#include "base/thread_random.h"
#include "unwind/caller_stack.h"

namespace ppagent {

__thread int64_t t_bytes_until_sample __attribute__((tls_model("initial-exec")));

namespace heap_pages {
std::atomic<std::atomic<uint16_t>*> leaves[1 << kTopBits];
}  // namespace heap_pages

namespace {

__thread bool t_countdown_started __attribute__((tls_model("initial-exec")));

std::atomic<int64_t> g_rate{-1};  // -1: not started yet
ModuleTables* g_tables = nullptr;
std::atomic<uint64_t> g_samples{0};

}  // namespace

struct HeapBucket {
  std::vector<uintptr_t> stack;
  uint64_t size;
  std::atomic<uint64_t> alloc_count{0}, alloc_bytes{0}, free_count{0}, free_bytes{0};
};

namespace {

using Bucket = HeapBucket;

// Looked up by the frames on the sampling thread's own stack, so that a hit
// allocates nothing.
struct BucketKey {
  const uintptr_t* pcs;
  size_t depth;
  uint64_t size;
  bool operator==(const BucketKey& o) const {
    return size == o.size && depth == o.depth && memcmp(pcs, o.pcs, depth * sizeof *pcs) == 0;
  }
};
struct BucketKeyHash {
  size_t operator()(const BucketKey& k) const {
    uint64_t h = k.size * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < k.depth; i++) h = (h ^ k.pcs[i]) * 0x100000001b3ull;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

// Buckets only grow (like Go's): a deque keeps their addresses stable, so
// live blocks point at theirs and frees update its counters without a lock.
pthread_mutex_t g_bucket_mutex = PTHREAD_MUTEX_INITIALIZER;
std::deque<Bucket>* g_buckets = nullptr;
std::unordered_map<BucketKey, Bucket*, BucketKeyHash>* g_bucket_index = nullptr;

// Live sampled blocks, sharded by page so that frees of unsampled blocks that
// share a page with a sampled one rarely contend.
constexpr size_t kShards = 64;
struct Shard {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  std::unordered_map<uintptr_t, SampledBlock> live;
};
Shard* g_shards = nullptr;

Shard& shard_of(const void* p) {
  uintptr_t page = reinterpret_cast<uintptr_t>(p) >> heap_pages::kPageShift;
  return g_shards[(page * 0x9e3779b97f4a7c15ull) >> 58];
}

std::atomic<uint16_t>* page_counter(const void* p, bool create) {
  using namespace heap_pages;
  uintptr_t page = reinterpret_cast<uintptr_t>(p) >> kPageShift;
  if (page >> (kTopBits + kLeafBits)) return nullptr;
  std::atomic<std::atomic<uint16_t>*>& slot = leaves[page >> kLeafBits];
  std::atomic<uint16_t>* leaf = slot.load(std::memory_order_acquire);
  if (leaf == nullptr && create) {
    void* mem = mmap(nullptr, sizeof(uint16_t) << kLeafBits, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return nullptr;
    std::atomic<uint16_t>* fresh = static_cast<std::atomic<uint16_t>*>(mem);
    if (slot.compare_exchange_strong(leaf, fresh)) leaf = fresh;
    else munmap(mem, sizeof(uint16_t) << kLeafBits);
  }
  return leaf ? &leaf[page & ((1u << kLeafBits) - 1)] : nullptr;
}

// Bytes to the next sample point: exponential with mean `rate`, so that each
// byte is equally likely to be sampled (a fixed stride would alias with loops).
int64_t draw_interval(int64_t rate) {
  if (rate <= 1) return 0;
  double bytes = -std::log(thread_random_unit()) * static_cast<double>(rate);
  return bytes >= 9e18 ? INT64_MAX : static_cast<int64_t>(bytes);
}

Bucket* bucket_for(const uintptr_t* pcs, size_t depth, uint64_t size) {
  pthread_mutex_lock(&g_bucket_mutex);
  auto it = g_bucket_index->find(BucketKey{pcs, depth, size});
  Bucket* bucket;
  if (it != g_bucket_index->end()) {
    bucket = it->second;
  } else {
    bucket = &g_buckets->emplace_back();
    bucket->stack.assign(pcs, pcs + depth);
    bucket->size = size;
    g_bucket_index->emplace(BucketKey{bucket->stack.data(), depth, size}, bucket);
  }
  pthread_mutex_unlock(&g_bucket_mutex);
  return bucket;
}

void record_block(void* p, size_t size, const uintptr_t* pcs, int depth) {
  AgentScope scope;
  Bucket* bucket = bucket_for(pcs, static_cast<size_t>(depth), size);

  std::atomic<uint16_t>* counter = page_counter(p, true);
  if (counter == nullptr) return;  // cannot be tracked: leave it out entirely
  Shard& shard = shard_of(p);
  SampledBlock replaced;
  pthread_mutex_lock(&shard.mutex);
  auto [it, inserted] = shard.live.try_emplace(reinterpret_cast<uintptr_t>(p), SampledBlock{size, bucket});
  if (inserted) {
    counter->fetch_add(1, std::memory_order_relaxed);
  } else {
    // The old block at this address was released behind our back (not
    // through an interposed call): it is not live any more.
    replaced = it->second;
    it->second = SampledBlock{size, bucket};
  }
  pthread_mutex_unlock(&shard.mutex);
  if (!inserted) HeapProfiler::count_free(replaced);
  bucket->alloc_count.fetch_add(1, std::memory_order_relaxed);
  bucket->alloc_bytes.fetch_add(size, std::memory_order_relaxed);
  g_samples.fetch_add(1, std::memory_order_relaxed);
}

void record_sample(void* p, size_t size) {
  // No noting of stack bounds here: malloc may be called with glibc's
  // internal locks held, which pthread_getattr_np could need. A thread of
  // unknown bounds is walked with fault-safe reads instead.
  AgentScope scope;
  uintptr_t pcs[kMaxStackDepth];
  int depth = capture_caller_stack(g_tables, pcs, kMaxStackDepth);
  record_block(p, size, pcs, depth);
}

}  // namespace

void HeapProfiler::record_sampled_block(void* p, size_t size, const uintptr_t* pcs, int depth) {
  record_block(p, size, pcs, depth);
}

void HeapProfiler::start(int64_t rate, ModuleTables* tables) {
  AgentScope scope;
  g_tables = tables;
  g_buckets = new std::deque<Bucket>();
  g_bucket_index = new std::unordered_map<BucketKey, Bucket*, BucketKeyHash>();
  g_shards = new Shard[kShards];
  g_rate.store(rate, std::memory_order_release);
}

int64_t HeapProfiler::rate() { return g_rate.load(std::memory_order_relaxed); }

void HeapProfiler::on_countdown_expired(void* p, size_t size) {
  const int64_t rate = g_rate.load(std::memory_order_acquire);
  if (rate < 0) {
    t_bytes_until_sample = 0;  // not started: ask again on the next allocation
    return;
  }
  if (rate == 0) {
    t_bytes_until_sample = INT64_MAX;
    return;
  }
  if (t_in_agent) {
    // The agent's own allocation: give the bytes back, so that the program's
    // sampling is exactly as if the agent had not allocated.
    t_bytes_until_sample = static_cast<int64_t>(static_cast<uint64_t>(t_bytes_until_sample) + size);
    return;
  }
  AgentScope scope;  // from here on the agent's work, not the program's
  if (!t_countdown_started) {
    // This thread's first countdown: draw it now, then charge this allocation.
    t_countdown_started = true;
    t_bytes_until_sample =
        static_cast<int64_t>(static_cast<uint64_t>(draw_interval(rate)) - size);
    if (t_bytes_until_sample >= 0) return;
  }
  t_bytes_until_sample = draw_interval(rate);
  if (p != nullptr) record_sample(p, size);
}

bool HeapProfiler::take(const void* p, SampledBlock* block) {
  if (g_shards == nullptr) return false;
  AgentScope scope;
  Shard& shard = shard_of(p);
  pthread_mutex_lock(&shard.mutex);
  auto it = shard.live.find(reinterpret_cast<uintptr_t>(p));
  bool found = it != shard.live.end();
  if (found) {
    *block = it->second;
    shard.live.erase(it);
    page_counter(p, false)->fetch_sub(1, std::memory_order_relaxed);
  }
  pthread_mutex_unlock(&shard.mutex);
  return found;
}

void HeapProfiler::count_free(const SampledBlock& block) {
  block.bucket->free_count.fetch_add(1, std::memory_order_relaxed);
  block.bucket->free_bytes.fetch_add(block.size, std::memory_order_relaxed);
}

void HeapProfiler::put_back(const void* p, const SampledBlock& block) {
  AgentScope scope;
  Shard& shard = shard_of(p);
  pthread_mutex_lock(&shard.mutex);
  if (shard.live.emplace(reinterpret_cast<uintptr_t>(p), block).second)
    page_counter(p, false)->fetch_add(1, std::memory_order_relaxed);
  pthread_mutex_unlock(&shard.mutex);
}

std::vector<HeapBucketSnapshot> HeapProfiler::snapshot() {
  std::vector<HeapBucketSnapshot> out;
  if (g_buckets == nullptr) return out;
  AgentScope scope;
  pthread_mutex_lock(&g_bucket_mutex);
  out.reserve(g_buckets->size());
  for (const Bucket& b : *g_buckets) {
    out.push_back(HeapBucketSnapshot{b.stack, b.size, b.alloc_count.load(), b.alloc_bytes.load(),
                                     b.free_count.load(), b.free_bytes.load()});
  }
  pthread_mutex_unlock(&g_bucket_mutex);
  return out;
}

uint64_t HeapProfiler::samples_taken() { return g_samples.load(std::memory_order_relaxed); }

// Across fork, every lock is taken by the forking thread so that the child
// inherits consistent tables (its live blocks are the parent's, rightly).
void HeapProfiler::prepare_fork() {
  if (g_shards == nullptr) return;
  pthread_mutex_lock(&g_bucket_mutex);
  for (size_t i = 0; i < kShards; i++) pthread_mutex_lock(&g_shards[i].mutex);
}

void HeapProfiler::parent_after_fork() {
  if (g_shards == nullptr) return;
  for (size_t i = 0; i < kShards; i++) pthread_mutex_unlock(&g_shards[i].mutex);
  pthread_mutex_unlock(&g_bucket_mutex);
}

// A forked child's profiles tell what the child did: the parent's buckets and
// its live sampled blocks are forgotten (a block inherited from the parent is
// freed in the child as an unsampled one). Only the forking thread exists here,
// so nothing else touches the tables while they are replaced.
void HeapProfiler::child_after_fork(bool keep_recording) {
  parent_after_fork();
  if (g_shards == nullptr) return;
  AgentScope scope;
  for (size_t i = 0; i < kShards; i++) {
    for (const auto& [address, block] : g_shards[i].live)
      page_counter(reinterpret_cast<const void*>(address), false)->fetch_sub(1, std::memory_order_relaxed);
    g_shards[i].live.clear();
  }
  g_bucket_index->clear();
  g_buckets->clear();
  g_samples.store(0, std::memory_order_relaxed);
  if (!keep_recording && g_rate.load(std::memory_order_relaxed) > 0)
    g_rate.store(0, std::memory_order_release);  // each thread's next countdown turns it off
}

}  // namespace ppagent
