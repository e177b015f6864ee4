// Interposed malloc-family symbols (exported through exports.map). Each call
// goes to the next definition in the process — glibc's, or jemalloc's or
// tcmalloc's when the host links one — and costs, unless it is sampled, a
// thread-local subtract and a branch (allocation) or two loads (free).
#include "interpose/interpose_malloc.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "interpose/next_definition.h"
#include "interpose/plt_rebinding.h"
#include "record/heap_profiler.h"

namespace ppagent {
namespace {

struct RealMalloc {
  std::atomic<void* (*)(size_t)> malloc{nullptr};
  std::atomic<void (*)(void*)> free{nullptr};
  std::atomic<void* (*)(size_t, size_t)> calloc{nullptr};
  std::atomic<void* (*)(void*, size_t)> realloc{nullptr};
  std::atomic<void* (*)(void*, size_t, size_t)> reallocarray{nullptr};
  std::atomic<int (*)(void**, size_t, size_t)> posix_memalign{nullptr};
  std::atomic<void* (*)(size_t, size_t)> aligned_alloc{nullptr};
  std::atomic<void* (*)(size_t, size_t)> memalign{nullptr};
  std::atomic<void* (*)(size_t)> valloc{nullptr};
  std::atomic<void* (*)(size_t)> pvalloc{nullptr};
  std::atomic<size_t (*)(void*)> malloc_usable_size{nullptr};
  std::atomic<bool> resolved{false};
} g_real;

// Every interposed function, once: X(name) for each.
#define PPAGENT_MALLOC_FAMILY(X)                                                             \
  X(malloc) X(free) X(calloc) X(realloc) X(reallocarray) X(posix_memalign) X(aligned_alloc) \
  X(memalign) X(valloc) X(pvalloc) X(malloc_usable_size)

__thread bool t_resolving __attribute__((tls_model("initial-exec")));

template <typename F>
void resolve_one(std::atomic<F>& slot, const char* name) {
  slot.store(next_definition<F>(name), std::memory_order_relaxed);
}

// Looks up the next definitions, once. Returns false while this very thread
// is inside the lookup (dlsym may allocate on some glibc versions): such
// calls are served from the bootstrap arena below.
bool resolve_real_functions() {
  if (g_real.resolved.load(std::memory_order_acquire)) return true;
  if (t_resolving) return false;
  t_resolving = true;
#define PPAGENT_RESOLVE(name) resolve_one(g_real.name, #name);
  PPAGENT_MALLOC_FAMILY(PPAGENT_RESOLVE)
#undef PPAGENT_RESOLVE
  t_resolving = false;
  g_real.resolved.store(true, std::memory_order_release);
  return true;
}

// The real function in `slot`, or null while this thread is looking them up.
template <typename F>
inline F real(std::atomic<F>& slot) {
  F fn = slot.load(std::memory_order_relaxed);
  if (__builtin_expect(fn != nullptr, 1)) return fn;
  return resolve_real_functions() ? slot.load(std::memory_order_relaxed) : nullptr;
}

// A small static arena for allocations made while the real functions are
// being looked up. Its blocks are never freed (free ignores them).
alignas(64) char g_bootstrap[64 * 1024];
std::atomic<size_t> g_bootstrap_used{0};
constexpr size_t kBootstrapHeader = 16;

bool in_bootstrap(const void* p) {
  return p >= g_bootstrap && p < g_bootstrap + sizeof g_bootstrap;
}

void* bootstrap_alloc(size_t size, size_t alignment = 16) {
  if (alignment < 16) alignment = 16;
  size_t at = g_bootstrap_used.load();
  for (;;) {
    size_t start = (at + kBootstrapHeader + alignment - 1) & ~(alignment - 1);
    size_t end = start + ((size + 15) & ~size_t{15});
    if (end > sizeof g_bootstrap || end < start) return nullptr;
    if (g_bootstrap_used.compare_exchange_weak(at, end)) {
      memcpy(g_bootstrap + start - sizeof(size_t), &size, sizeof(size_t));
      return g_bootstrap + start;  // zeroed: static storage, never reused
    }
  }
}

size_t bootstrap_size(const void* p) {
  size_t size;
  memcpy(&size, static_cast<const char*>(p) - sizeof(size_t), sizeof(size_t));
  return size;
}

// The hot path: charge `size` bytes to this thread's countdown; only when it
// runs out does the profiler look at the allocation.
inline void* account(void* p, size_t size) {
  // A failed allocation allocated nothing (and an impossible size must not
  // wrap the countdown around).
  if (__builtin_expect(p == nullptr, 0)) return p;
  int64_t left = static_cast<int64_t>(static_cast<uint64_t>(t_bytes_until_sample) - size);
  t_bytes_until_sample = left;
  if (__builtin_expect(left < 0, 0)) HeapProfiler::on_countdown_expired(p, size);
  return p;
}

// A block about to be released (or moved): if it was sampled, take it out of
// the live table first, so that its address can be reused at once.
inline bool forget_if_sampled(void* p, SampledBlock* block) {
  if (__builtin_expect(!heap_pages::may_hold_sample(p), 1)) return false;
  if (t_in_agent) return false;  // the agent never frees the program's blocks
  return HeapProfiler::take(p, block);
}

// free's rare path, out of line so that the common one stays two loads.
__attribute__((noinline)) void forget_freed_sample(void* p) {
  if (t_in_agent) return;  // the agent never frees the program's blocks
  AgentScope scope;        // the bookkeeping is the agent's work, not the program's
  SampledBlock block;
  if (HeapProfiler::take(p, &block)) HeapProfiler::count_free(block);
}

}  // namespace
}  // namespace ppagent

using namespace ppagent;

PPAGENT_EXPORT void* malloc(size_t size) {
  auto fn = real(g_real.malloc);
  if (__builtin_expect(fn == nullptr, 0)) return bootstrap_alloc(size);
  return account(fn(size), size);
}

PPAGENT_EXPORT void free(void* p) {
  if (p == nullptr || in_bootstrap(p)) return;
  if (__builtin_expect(heap_pages::may_hold_sample(p), 0)) forget_freed_sample(p);
  if (auto fn = real(g_real.free)) fn(p);
}

PPAGENT_EXPORT void* calloc(size_t count, size_t size) {
  auto fn = real(g_real.calloc);
  if (__builtin_expect(fn == nullptr, 0)) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
      errno = ENOMEM;
      return nullptr;
    }
    return bootstrap_alloc(total);
  }
  void* p = fn(count, size);
  size_t total;
  if (p == nullptr || __builtin_mul_overflow(count, size, &total)) return p;
  return account(p, total);
}

namespace {

// realloc and reallocarray: the old block (if sampled) ends, the result is a
// new allocation — unless the call failed, in which case the old block lives on.
void* resize(void* p, size_t size, void* (*call)(void*, size_t, size_t), size_t count,
             size_t unit) {
  SampledBlock block;
  bool was_sampled = p != nullptr && forget_if_sampled(p, &block);
  void* q = call(p, count, unit);
  if (was_sampled) {
    if (q == nullptr && size != 0) HeapProfiler::put_back(p, block);
    else HeapProfiler::count_free(block);
  }
  return q != nullptr && size != 0 ? account(q, size) : q;
}

void* call_realloc(void* p, size_t size, size_t) {
  return g_real.realloc.load(std::memory_order_relaxed)(p, size);
}

void* call_reallocarray(void* p, size_t count, size_t unit) {
  return g_real.reallocarray.load(std::memory_order_relaxed)(p, count, unit);
}

}  // namespace

PPAGENT_EXPORT void* realloc(void* p, size_t size) {
  if (__builtin_expect(!resolve_real_functions(), 0) || in_bootstrap(p)) {
    // Moving a bootstrap block (or allocating during lookup): copy it out.
    void* q = resolve_real_functions() ? malloc(size) : bootstrap_alloc(size);
    if (q != nullptr && p != nullptr) memcpy(q, p, std::min(size, bootstrap_size(p)));
    return q;
  }
  return resize(p, size, call_realloc, size, 0);
}

PPAGENT_EXPORT void* reallocarray(void* p, size_t count, size_t unit) {
  size_t size;
  if (__builtin_mul_overflow(count, unit, &size)) size = SIZE_MAX;  // the real call fails with ENOMEM
  if (__builtin_expect(!resolve_real_functions(), 0) || in_bootstrap(p)) {
    if (size == SIZE_MAX) {
      errno = ENOMEM;
      return nullptr;
    }
    return realloc(p, size);
  }
  return resize(p, size, call_reallocarray, count, unit);
}

PPAGENT_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  auto fn = real(g_real.posix_memalign);
  if (__builtin_expect(fn == nullptr, 0)) {
    *out = bootstrap_alloc(size, alignment);
    return *out ? 0 : ENOMEM;
  }
  int rc = fn(out, alignment, size);
  if (rc == 0) account(*out, size);
  return rc;
}

PPAGENT_EXPORT void* aligned_alloc(size_t alignment, size_t size) {
  auto fn = real(g_real.aligned_alloc);
  if (__builtin_expect(fn == nullptr, 0)) return bootstrap_alloc(size, alignment);
  void* p = fn(alignment, size);
  return p ? account(p, size) : p;
}

PPAGENT_EXPORT void* memalign(size_t alignment, size_t size) {
  auto fn = real(g_real.memalign);
  if (__builtin_expect(fn == nullptr, 0)) return bootstrap_alloc(size, alignment);
  void* p = fn(alignment, size);
  return p ? account(p, size) : p;
}

PPAGENT_EXPORT void* valloc(size_t size) {
  auto fn = real(g_real.valloc);
  if (__builtin_expect(fn == nullptr, 0)) return bootstrap_alloc(size, 4096);
  void* p = fn(size);
  return p ? account(p, size) : p;
}

PPAGENT_EXPORT void* pvalloc(size_t size) {
  auto fn = real(g_real.pvalloc);
  if (__builtin_expect(fn == nullptr, 0)) return bootstrap_alloc(size, 4096);
  void* p = fn(size);
  size_t page = static_cast<size_t>(getpagesize());
  return p ? account(p, (size + page - 1) & ~(page - 1)) : p;
}

PPAGENT_EXPORT size_t malloc_usable_size(void* p) {
  if (p == nullptr) return 0;
  if (in_bootstrap(p)) return bootstrap_size(p);
  auto fn = real(g_real.malloc_usable_size);
  return fn ? fn(p) : 0;
}

// This library's own definitions, even where another preloaded library's come
// first in the process.
#define PPAGENT_OWN(name) \
  extern "C" decltype(name) agent_own_##name __attribute__((alias(#name), copy(name)));
PPAGENT_MALLOC_FAMILY(PPAGENT_OWN)
#undef PPAGENT_OWN

namespace ppagent {

void take_idle_malloc_hooks_out_of_calls() {
  if (HeapProfiler::rate() != 0 || !resolve_real_functions()) return;
  AgentScope scope;
  // All in one pass over the loaded objects (plt_rebinding.h says why).
  const PltRebinding rebindings[] = {
#define PPAGENT_REBINDING(name)                         \
  {#name, reinterpret_cast<void*>(agent_own_##name), \
   reinterpret_cast<void*>(g_real.name.load(std::memory_order_relaxed))},
      PPAGENT_MALLOC_FAMILY(PPAGENT_REBINDING)
#undef PPAGENT_REBINDING
  };
  rebind_plt_calls(rebindings, sizeof rebindings / sizeof rebindings[0]);
}

}  // namespace ppagent
