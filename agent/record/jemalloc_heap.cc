#include "record/jemalloc_heap.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "base/log.h"
#include "record/jemalloc_dump.h"
#include "record/jemalloc_rate.h"
#include "unwind/caller_stack.h"

namespace ppagent {

namespace {

using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);
// jemalloc 5.3's include/jemalloc/internal/prof_hook.h.
using BacktraceHook = void (*)(void**, unsigned*, unsigned);
// jemalloc >= 5.3.1: called after each sampled allocation (ptr, size, its
// backtrace, the backtrace's length, usable size) and free of a sampled block.
using SampleHook = void (*)(const void*, size_t, void**, unsigned, size_t);
using SampleFreeHook = void (*)(const void*, size_t);

MallctlFn g_mallctl = nullptr;
ModuleTables* g_tables = nullptr;
std::atomic<bool> g_active{false};
std::atomic<int64_t> g_rate{0};
bool g_accumulated = false;  // opt.prof_accum: jemalloc keeps allocation totals
std::atomic<uint64_t> g_samples{0};
// The per-sample hooks are installed: the agent's own table (heap_profiler.h)
// holds the samples, per stack and size, and no dump is needed.
std::atomic<bool> g_per_sample{false};
std::atomic<bool> g_dump_failure_logged{false};
// Where jemalloc's code and the agent's own are (executable segments).
uintptr_t g_jemalloc_start = 0, g_jemalloc_end = 0, g_agent_start = 0, g_agent_end = 0;

bool in_jemalloc(uintptr_t pc) { return pc >= g_jemalloc_start && pc < g_jemalloc_end; }
bool in_agent(uintptr_t pc) { return pc >= g_agent_start && pc < g_agent_end; }

template <typename T>
bool read_ctl(const char* name, T* value) {
  size_t len = sizeof(T);
  return g_mallctl(name, value, &len, nullptr, 0) == 0 && len == sizeof(T);
}

template <typename T>
int write_ctl(const char* name, T value) {
  return g_mallctl(name, nullptr, nullptr, &value, sizeof(T));
}

// Called by jemalloc, inside malloc, for each allocation it samples, with
// its own locks possibly held: the walk neither allocates nor locks.
void backtrace_hook(void** vec, unsigned* len, unsigned max) {
  // The agent's own allocations (symbolizing, serving HTTP; agent threads
  // run in AgentScope all their life) are not the program's: an empty
  // backtrace, which the dump reader leaves out.
  if (t_in_agent) {
    *len = 0;
    return;
  }
  g_samples.fetch_add(1, std::memory_order_relaxed);
  uintptr_t pcs[kMaxStackDepth];
  int want = max < static_cast<unsigned>(kMaxStackDepth) ? static_cast<int>(max) : kMaxStackDepth;
  int depth = capture_caller_stack(g_tables, pcs, want);
  for (int i = 0; i < depth; i++) vec[i] = reinterpret_cast<void*>(pcs[i]);
  *len = static_cast<unsigned>(depth);
}

// jemalloc's sampled allocation, with the backtrace backtrace_hook gave it.
void sample_hook(const void* ptr, size_t, void** backtrace, unsigned length, size_t usize) {
  if (t_in_agent || length == 0 || ptr == nullptr) return;  // the agent's own
  uintptr_t pcs[kMaxStackDepth];
  int depth = length < static_cast<unsigned>(kMaxStackDepth) ? static_cast<int>(length)
                                                             : kMaxStackDepth;
  for (int i = 0; i < depth; i++) pcs[i] = reinterpret_cast<uintptr_t>(backtrace[i]);
  // usize: jemalloc's sampler counts usable sizes, so the scaling must too.
  HeapProfiler::record_sampled_block(const_cast<void*>(ptr), usize, pcs, depth);
}

void sample_free_hook(const void* ptr, size_t) {
  if (t_in_agent || !heap_pages::may_hold_sample(ptr)) return;
  SampledBlock block;
  if (HeapProfiler::take(ptr, &block)) HeapProfiler::count_free(block);
}

// A forked child's profiles tell what the child did (as with the interposing
// backend): jemalloc's counts start over. Runs after jemalloc's own fork
// handler (registered when jemalloc started) has made its locks usable again.
void child_after_fork() {
  if (g_per_sample.load()) return;  // the agent's table is reset by HeapProfiler
  size_t lg = static_cast<size_t>(__builtin_ctzll(static_cast<uint64_t>(g_rate.load())));
  write_ctl("prof.reset", lg);
}

// Installs the per-sample hooks when this jemalloc has them. False: it has
// not, or refused one (then neither is left installed).
bool install_per_sample_hooks() {
  SampleHook sample = sample_hook;
  SampleFreeHook sample_free = sample_free_hook;
  if (write_ctl("experimental.hooks.prof_sample_free", sample_free) != 0) return false;
  if (write_ctl("experimental.hooks.prof_sample", sample) != 0) {
    write_ctl("experimental.hooks.prof_sample_free", SampleFreeHook{nullptr});
    return false;
  }
  return true;
}


std::string object_name(const void* address) {
  Dl_info info;
  if (dladdr(address, &info) == 0 || info.dli_fname == nullptr || info.dli_fname[0] == '\0')
    return "the executable";
  return info.dli_fname;
}

bool read_whole_file(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return n == 0;
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

void log_dump_failure_once(const std::string& why) {
  if (!g_dump_failure_logged.exchange(true))
    log_line("jemalloc heap profile: %s; heap profiles are empty", why.c_str());
}

// Samples taken before the agent's hook was installed (from jemalloc's
// start until the agent's constructor) carry jemalloc's own backtraces: they
// begin inside jemalloc (and the agent's malloc wrapper), and those that come
// from the agent's start-up have agent code below that. Trims the first kind
// to the program's caller like the hook does; leaves the second kind out.
// Returns false for a bucket to leave out.
bool trim_early_backtrace(HeapBucketSnapshot* b) {
  if (b->stack.empty() || !in_jemalloc(b->stack[0])) return true;  // the hook's
  size_t first = 0;
  while (first < b->stack.size() && (in_jemalloc(b->stack[first]) || in_agent(b->stack[first])))
    first++;
  for (size_t i = first; i < b->stack.size(); i++)
    if (in_agent(b->stack[i])) return false;
  b->stack.erase(b->stack.begin(), b->stack.begin() + static_cast<std::ptrdiff_t>(first));
  return !b->stack.empty();
}

}  // namespace

JemallocProbe JemallocHeap::probe() {
  AgentScope scope;
  JemallocProbe probe;
  g_mallctl = reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (g_mallctl == nullptr) {
    probe.why_not = "the program does not run on jemalloc (no mallctl)";
    return probe;
  }
  // The program's malloc is the next one after the agent's interposed malloc.
  void* next_malloc = dlsym(RTLD_NEXT, "malloc");
  Dl_info ctl_info, malloc_info;
  if (next_malloc == nullptr || dladdr(reinterpret_cast<void*>(g_mallctl), &ctl_info) == 0 ||
      dladdr(next_malloc, &malloc_info) == 0 || ctl_info.dli_fbase != malloc_info.dli_fbase) {
    probe.why_not = "mallctl is in " + object_name(reinterpret_cast<void*>(g_mallctl)) +
                    " but the program's malloc is not";
    g_mallctl = nullptr;
    return probe;
  }
  probe.on_jemalloc = true;
  const std::string where = object_name(reinterpret_cast<void*>(g_mallctl));
  bool flag = false;
  if (!read_ctl("config.prof", &flag) || !flag) {
    probe.why_not = "jemalloc (" + where + ") was built without profiling (config.prof is false)";
    return probe;
  }
  if (!read_ctl("opt.prof", &flag) || !flag) {
    probe.why_not = "jemalloc's profiling was not enabled at process start (MALLOC_CONF has no "
                    "prof:true; `ppagent run --heap-backend jemalloc` sets it)";
    return probe;
  }
  BacktraceHook current = nullptr;
  if (!read_ctl("experimental.hooks.prof_backtrace", &current)) {
    probe.why_not = "jemalloc (" + where + ") has no experimental.hooks.prof_backtrace (older "
                    "than 5.3.0)";
    return probe;
  }
  // jemalloc 5.3.1 added hooks called with every sampled allocation and free.
  void* installed_sample_hook = nullptr;
  probe.per_sample_hooks = read_ctl("experimental.hooks.prof_sample", &installed_sample_hook);
  return probe;
}

bool JemallocHeap::start(int64_t rate, ModuleTables* tables, std::string* why_not) {
  AgentScope scope;
  JemallocProbe probe = JemallocHeap::probe();
  if (!probe.why_not.empty()) {
    *why_not = probe.why_not;
    return false;
  }
  if (!code_segment_of(reinterpret_cast<void*>(g_mallctl), &g_jemalloc_start, &g_jemalloc_end) ||
      !code_segment_of(reinterpret_cast<void*>(&backtrace_hook), &g_agent_start, &g_agent_end)) {
    *why_not = "cannot find jemalloc's code in the process";
    return false;
  }
  bool accumulated = false;
  read_ctl("opt.prof_accum", &accumulated);
  size_t lg = 0;
  if (!read_ctl("prof.lg_sample", &lg)) {
    *why_not = "cannot read jemalloc's prof.lg_sample";
    return false;
  }
  const size_t wanted = static_cast<size_t>(jemalloc_lg_sample(rate));
  // MALLOC_CONF set by hand with another rate: start over at ours (this
  // drops what jemalloc sampled before the agent started, i.e. almost nothing).
  if (lg != wanted) {
    if (write_ctl("prof.reset", wanted) == 0) lg = wanted;
    else log_line("cannot set jemalloc's sampling rate to 2^%zu; it stays 2^%zu", wanted, lg);
  }

  g_tables = tables;
  skip_allocator_frames(g_jemalloc_start, g_jemalloc_end);
  // Only walks with the agent's own unwinder: jemalloc's default (libgcc's
  // _Unwind_Backtrace) can deadlock inside malloc.
  BacktraceHook hook = backtrace_hook;
  if (write_ctl("experimental.hooks.prof_backtrace", hook) != 0) {
    skip_allocator_frames(0, 0);
    *why_not = "jemalloc refused the experimental.hooks.prof_backtrace hook";
    return false;
  }
  // Installed before the sampling starts: from then on every sample reaches
  // the agent's table (the free hook first, so no block is missed).
  if (probe.per_sample_hooks && install_per_sample_hooks()) g_per_sample.store(true);
  if (write_ctl("prof.active", true) != 0) {
    *why_not = "cannot activate jemalloc's profiling (prof.active)";
    return false;
  }
  g_accumulated = accumulated;
  if (!accumulated && !g_per_sample.load())
    log_line("jemalloc's prof_accum is off (MALLOC_CONF): the allocs profile counts only the "
             "blocks still in use");
  g_rate.store(int64_t{1} << lg);
  g_active.store(true);
  pthread_atfork(nullptr, nullptr, child_after_fork);
  return true;
}

void JemallocHeap::stop_unused_sampling() {
  AgentScope scope;
  JemallocProbe probe = JemallocHeap::probe();
  if (!probe.on_jemalloc) return;
  bool on = false;
  if (read_ctl("opt.prof", &on) && on) write_ctl("prof.active", false);
}

bool JemallocHeap::active() { return g_active.load(std::memory_order_relaxed); }

int64_t JemallocHeap::rate() { return g_rate.load(std::memory_order_relaxed); }

uint64_t JemallocHeap::samples_taken() { return g_samples.load(std::memory_order_relaxed); }

std::vector<HeapBucketSnapshot> JemallocHeap::snapshot() {
  AgentScope scope;
  if (!active()) return {};
  if (g_per_sample.load()) return HeapProfiler::snapshot();
  const char* tmp = getenv("TMPDIR");
  std::string dir = std::string(tmp && tmp[0] == '/' ? tmp : "/tmp") + "/ppagent-jemalloc-XXXXXX";
  // mkdtemp creates the directory 0700: nobody else can see or replace the dump.
  if (mkdtemp(&dir[0]) == nullptr) {
    log_dump_failure_once("cannot create a private directory in " + dir.substr(0, dir.rfind('/')) +
                          ": " + strerror(errno));
    return {};
  }
  const std::string path = dir + "/heap";
  const char* name = path.c_str();
  int rc = write_ctl("prof.dump", name);
  std::string text;
  bool read_ok = rc == 0 && read_whole_file(path, &text);
  unlink(path.c_str());
  rmdir(dir.c_str());
  if (rc != 0) {
    log_dump_failure_once(std::string("jemalloc's prof.dump failed: ") + strerror(rc));
    return {};
  }
  JemallocDump dump;
  std::string error;
  if (!read_ok) {
    log_dump_failure_once("cannot read jemalloc's dump");
    return {};
  }
  if (!parse_jemalloc_dump(text, g_accumulated, &dump, &error)) {
    log_dump_failure_once(error);
    return {};
  }
  std::vector<HeapBucketSnapshot> buckets;
  buckets.reserve(dump.buckets.size());
  for (HeapBucketSnapshot& b : dump.buckets)
    if (trim_early_backtrace(&b)) buckets.push_back(std::move(b));
  return buckets;
}

}  // namespace ppagent
