// unwind_bench: the unwinder's own costs, measured in this process.
//
//   refresh    ModuleTables::refresh(true) over the loaded objects (libLLVM-14
//              loaded too when installed), and for comparison what the agent did
//              before: compiling every object's whole .eh_frame into tables
//   walk       a 30-frame stack of this program walked from one context:
//              warm (every rule cached) and cold (every rule evaluated: each walk
//              uses module tables refreshed anew, whose modules have new
//              generations, so nothing cached applies)
//   evaluate   rules evaluated at random pcs of the largest module loaded
//              (memory not warm: the binary search and the FDEs are spread out)
//   cache      address space of the rule cache and resident memory as rules are cached
//
// Usage: unwind_bench [--batches N] [--only refresh|walk|evaluate|cache]
//        unwind_bench --callgrind-walk warm|cold N   (N walks only, for callgrind)
// Prints medians over batches; figures, not checks.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dlfcn.h>
#include <link.h>
#include <memory>
#include <random>
#include <string>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

#include "reference_frame_table.h"
#include "unwind/cfa_evaluator.h"
#include "unwind/module_view.h"
#include "unwind/rule_cache.h"
#include "unwind/stack_walker.h"

namespace {

using namespace ppagent;

constexpr int kStackFrames = 30;

double now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

long resident_kib() {
  FILE* f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::vector<LoadedModule> loaded_modules() {
  std::vector<LoadedModule> modules;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        LoadedModule m;
        if (describe_loaded_module(*info, &m))
          static_cast<std::vector<LoadedModule>*>(data)->push_back(std::move(m));
        return 0;
      },
      &modules);
  for (LoadedModule& m : modules) m.bind();
  return modules;
}

void bench_refresh(int batches) {
  std::vector<double> per_refresh;
  size_t modules = 0;
  for (int b = 0; b < batches; b++) {
    ModuleTables tables;
    constexpr int kRefreshes = 50;
    const double t0 = now_ns();
    for (int i = 0; i < kRefreshes; i++) tables.refresh(true);
    per_refresh.push_back((now_ns() - t0) / kRefreshes);
    modules = tables.module_count();
  }
  printf("refresh (now): %zu objects, %.1f us per refresh, %.2f us per object\n", modules,
         median(per_refresh) / 1e3, median(per_refresh) / 1e3 / modules);

  // What refresh(true) did before: every object's whole .eh_frame compiled.
  std::vector<LoadedModule> all = loaded_modules();
  const long rss_before = resident_kib();
  const double t0 = now_ns();
  size_t rules = 0;
  std::vector<std::vector<FrameRule>> tables;
  for (const LoadedModule& m : all) {
    tables.push_back(reference::compile_frame_rules(m.view.eh_frame_hdr, m.view.bias));
    rules += tables.back().size();
  }
  const double compile_ms = (now_ns() - t0) / 1e6;
  printf("refresh (before, whole tables compiled): %.1f ms, %zu rules (%.1f MiB of rules), "
         "resident +%.1f MiB\n",
         compile_ms, rules, rules * sizeof(FrameRule) / 1048576.0,
         (resident_kib() - rss_before) / 1024.0);
}

// The stack: kStackFrames distinct functions, the bottom one runs `at_bottom`.
using Bottom = void (*)(void*);
template <int N> __attribute__((noinline)) void chain(Bottom at_bottom, void* arg);
template <> __attribute__((noinline)) void chain<0>(Bottom at_bottom, void* arg) {
  at_bottom(arg);
  asm volatile("" ::: "memory");  // not a tail call
}
template <int N> __attribute__((noinline)) void chain(Bottom at_bottom, void* arg) {
  chain<N - 1>(at_bottom, arg);
  asm volatile("" ::: "memory");
}

struct WalkBench {
  int batches;
  const char* callgrind_mode = nullptr;  // only walk, N times
  int callgrind_walks = 0;
};

__attribute__((noinline)) void walk_at_bottom(void* raw) {
  auto* bench = static_cast<WalkBench*>(raw);
  ucontext_t context;
  getcontext(&context);
  uintptr_t pcs[kStackFrames];

  if (bench->callgrind_mode != nullptr) {
    // As the CPU sampler walks: the thread's stack bounds known.
    const StackBounds bounds = current_thread_stack();
    const bool cold = strcmp(bench->callgrind_mode, "cold") == 0;
    std::vector<std::unique_ptr<ModuleTables>> fresh;
    ModuleTables warm;
    warm.refresh(true);
    warm.walk(&context, bounds, pcs, kStackFrames);
    for (int i = 0; cold && i < bench->callgrind_walks; i++) {
      fresh.emplace_back(new ModuleTables);
      fresh.back()->refresh(true);
    }
    int frames = 0;
    for (int i = 0; i < bench->callgrind_walks; i++)
      frames += (cold ? fresh[i].get() : &warm)->walk(&context, bounds, pcs, kStackFrames);
    printf("%s: %d walks, %d frames\n", bench->callgrind_mode, bench->callgrind_walks, frames);
    return;
  }

  // Warm: every rule cached.
  ModuleTables tables;
  tables.refresh(true);
  int depth = tables.walk(&context, StackBounds{}, pcs, kStackFrames);
  std::vector<double> warm;
  for (int b = 0; b < bench->batches; b++) {
    constexpr int kWalks = 20000;
    const double t0 = now_ns();
    for (int i = 0; i < kWalks; i++) depth = tables.walk(&context, StackBounds{}, pcs, kStackFrames);
    warm.push_back((now_ns() - t0) / kWalks);
  }
  // Cold: tables refreshed anew for each walk (new generations), timed walk only.
  std::vector<double> cold;
  for (int b = 0; b < bench->batches; b++) {
    constexpr int kWalks = 100;
    std::vector<std::unique_ptr<ModuleTables>> fresh;
    for (int i = 0; i < kWalks; i++) {
      fresh.emplace_back(new ModuleTables);
      fresh.back()->refresh(true);
    }
    const double t0 = now_ns();
    for (int i = 0; i < kWalks; i++) fresh[i]->walk(&context, StackBounds{}, pcs, kStackFrames);
    cold.push_back((now_ns() - t0) / kWalks);
  }
  printf("walk of a %d-frame stack (warm: every rule cached; cold: every rule evaluated)\n",
         depth);
  // The CPU sampler walks with the thread's stack bounds: direct loads.
  StackBounds bounds = current_thread_stack();
  if (bounds.high == 0) {
    note_current_thread_stack();
    bounds = current_thread_stack();
  }
  std::vector<double> warm_direct, cold_direct;
  for (int b = 0; b < bench->batches; b++) {
    constexpr int kWalks = 20000;
    const double t0 = now_ns();
    for (int i = 0; i < kWalks; i++) depth = tables.walk(&context, bounds, pcs, kStackFrames);
    warm_direct.push_back((now_ns() - t0) / kWalks);
  }
  for (int b = 0; b < bench->batches; b++) {
    constexpr int kWalks = 100;
    std::vector<std::unique_ptr<ModuleTables>> fresh;
    for (int i = 0; i < kWalks; i++) {
      fresh.emplace_back(new ModuleTables);
      fresh.back()->refresh(true);
    }
    const double t0 = now_ns();
    for (int i = 0; i < kWalks; i++) fresh[i]->walk(&context, bounds, pcs, kStackFrames);
    cold_direct.push_back((now_ns() - t0) / kWalks);
  }
  printf("  (%d frames with bounds)\n", depth);
  printf("  stack bounds known (the CPU sampler): warm %.0f ns per stack (%.1f ns per frame), "
         "cold %.0f ns per stack (%.1f ns per frame)\n",
         median(warm_direct), median(warm_direct) / depth, median(cold_direct),
         median(cold_direct) / depth);
  printf("  stack bounds unknown (fault-safe reads, a thread seen from outside): warm %.0f ns per stack (%.1f ns per "
         "frame), cold %.0f ns per stack (%.1f ns per frame)\n",
         median(warm), median(warm) / depth, median(cold), median(cold) / depth);
}

// Streams through more memory than the caches hold, so that what follows
// starts from main memory.
void evict_caches() {
  static std::vector<char> buffer(256 << 20);
  for (size_t i = 0; i < buffer.size(); i += 64) buffer[i]++;
}

// The entries of a module's .eh_frame_hdr table (datarel|sdata4).
std::vector<const uint8_t*> fdes_of(const ModuleView& m) {
  std::vector<const uint8_t*> out;
  const uint8_t* hdr = m.eh_frame_hdr;
  if (hdr[0] != 1 || hdr[3] != 0x3b || hdr[2] != 0x03) return out;
  uint32_t count;
  memcpy(&count, hdr + 8, 4);  // after the 4-byte eh_frame_ptr (pcrel|sdata4)
  for (uint32_t i = 0; i < count; i++) {
    int32_t offset;
    memcpy(&offset, hdr + 12 + i * 8 + 4, 4);
    out.push_back(hdr + offset);
  }
  return out;
}

void bench_evaluate(int batches) {
  std::vector<LoadedModule> all = loaded_modules();
  const LoadedModule* largest = nullptr;
  size_t largest_fdes = 0;
  for (const LoadedModule& m : all) {
    const size_t n = fdes_of(m.view).size();
    if (n > largest_fdes) {
      largest_fdes = n;
      largest = &m;
    }
  }
  if (largest == nullptr) return;
  const std::vector<const uint8_t*> fdes = fdes_of(largest->view);
  std::mt19937_64 random(42);
  std::vector<double> per_rule;
  size_t with_rule = 0, total = 0;
  for (int b = 0; b < batches; b++) {
    // pcs inside random functions (FDEs), each evaluated once, from cold memory.
    constexpr int kPcs = 2000;
    std::vector<uintptr_t> pcs;
    while (pcs.size() < kPcs) {
      uintptr_t begin, end;
      if (fde_pc_range(largest->view, fdes[random() % fdes.size()], &begin, &end))
        pcs.push_back(begin + random() % (end - begin));
    }
    evict_caches();
    const double t0 = now_ns();
    for (uintptr_t pc : pcs) {
      const FrameRule rule = frame_rule_at(largest->view, pc);
      with_rule += rule.cfa_base != FrameRule::kNone;
      total++;
    }
    per_rule.push_back((now_ns() - t0) / kPcs);
  }
  printf("evaluate: %s (%zu FDEs): %.0f ns per rule at random pcs inside its functions, caches "
         "evicted first (%.1f%% with a rule)\n",
         largest->name.empty() ? "(program)" : largest->name.c_str(), largest_fdes,
         median(per_rule), 100.0 * with_rule / total);
}

void bench_cache() {
  const long before = resident_kib();
  RuleCache cache;
  const long mapped = resident_kib();
  printf("cache: %zu entries, %zu KiB of address space; resident after mapping +%ld KiB",
         RuleCache::kDefaultEntries, cache.mapped_bytes() / 1024, mapped - before);
  std::mt19937_64 random(7);
  FrameRule rule{};
  rule.cfa_base = FrameRule::kRsp;
  size_t stored = 0;
  for (size_t target : {100, 1000, 16384, 100000}) {
    for (; stored < target; stored++) cache.store(0x400000 + random() % (64 << 20), 1, rule);
    printf(", after %zu rules +%ld KiB", target, resident_kib() - before);
  }
  printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  int batches = 9;
  std::string only;
  WalkBench walk{batches};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--batches") && i + 1 < argc) batches = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--callgrind-walk") && i + 2 < argc) {
      walk.callgrind_mode = argv[++i];
      walk.callgrind_walks = atoi(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: unwind_bench [--batches N] [--only refresh|walk|evaluate|cache]\n"
              "       unwind_bench --callgrind-walk warm|cold N\n");
      return 2;
    }
  }
  walk.batches = batches;
  note_current_thread_stack();
  if (walk.callgrind_mode != nullptr) {
    chain<kStackFrames>(walk_at_bottom, &walk);
    return 0;
  }
  const char* llvm = "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1";
  if (dlopen(llvm, RTLD_LAZY | RTLD_LOCAL) == nullptr) printf("(%s not loaded)\n", llvm);
  if (only.empty() || only == "refresh") bench_refresh(batches);
  if (only.empty() || only == "walk") chain<kStackFrames>(walk_at_bottom, &walk);
  if (only.empty() || only == "evaluate") bench_evaluate(batches);
  if (only.empty() || only == "cache") bench_cache();
  return 0;
}
