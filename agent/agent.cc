#include "agent.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <dlfcn.h>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "base/agent_state.h"
#include "base/agent_thread_cpu.h"
#include "base/agent_threads.h"
#include "base/agent_wakeup.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/fatal_signals.h"
#include "base/log.h"
#include "base/process_maps.h"
#include "base/process_filter.h"
#include "base/program_name.h"
#include "base/thread_proc.h"
#include "interpose/interpose_exit.h"
#include "interpose/interpose_locks.h"
#include "interpose/interpose_malloc.h"
#include "interpose/interpose_pthread.h"
#include "live/http_server.h"
#include "output/output_directory.h"
#include "output/owned_profile_file.h"
#include "output/profile_file.h"
#include "output/report_file.h"
#include "output/write_failure_log.h"
#include "pprof/heap_profile.h"
#include "pprof/profile_kind.h"
#include "pprof/profile_snapshot.h"
#include "record/contention_profiler.h"
#include "record/cpu_sampler.h"
#include "record/heap_profiler.h"
#include "record/heap_source.h"
#include "record/thread_creation.h"
#include "record/thread_stacks.h"
#include "record/trace_store.h"
#include "record/wall_sampler.h"
#include "symbols/build_id_cache.h"
#include "symbols/module.h"
#include "unwind/caller_stack.h"
#include "unwind/stack_walker.h"
#include "unwind/unload_guard.h"

namespace ppagent {


namespace {

// A pointer, not an object: the preload constructor may run before this
// file's static initializers.
const Config* g_config = nullptr;

// Frames stored per distinct stack, on average, in the CPU trace store. With
// the default of 64 Ki stacks that is 4 Mi frames (~37 MiB of address space,
// touched only as it fills).
constexpr size_t kFramesPerStack = 64;

TraceStore* new_cpu_store() {
  size_t stacks = static_cast<size_t>(g_config->cpu_max_stacks);
  return new TraceStore(stacks, stacks * kFramesPerStack);
}

// PPROF_CHILDREN: a forked child is profiled too. A plain bool, constant-
// initialized: a global with a constructor (as a ProcessFilter with its
// vector) could be constructed again after agent_start had set it.
bool g_fork_children_profiled = true;
bool g_cpu_on = false, g_heap_on = false, g_mutex_on = false, g_block_on = false;
bool g_wall_on = false;
int64_t g_start_unix_ns = 0, g_start_mono_ns = 0;
TraceStore* g_cpu_store = nullptr;
TraceStore* g_wall_store = nullptr;  // as large as the CPU store
ModuleTables* g_module_tables = nullptr;

// A plain pthread mutex, so that a forked child can re-initialize it (the
// parent may have been writing on another thread at the time).
pthread_mutex_t g_write_mutex = PTHREAD_MUTEX_INITIALIZER;
bool g_written = false;  // the final profiles; no dumps after them
int g_dump_sequence = 0;

// Signals the agent handles are posted to the agent's thread (agent_wakeup.h),
// which does the work in normal context.
constexpr int kTerminationSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The profiles written under their final names, which the periodic flush
// rewrites and the exit writes last: this process's files, which it alone may
// replace (owned_profile_file.h). Guarded by g_write_mutex.
// Indexed by ProfileKind; used for the kinds written at exit.
struct FinalFile {
  OwnedFile file;
  bool flush_failure_logged = false;  // one line per kind, not one per interval
};
FinalFile g_final_files[kProfileKindCount];

std::string current_directory() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

void append_report(const std::string& path) {
  if (!g_config->report_file.empty()) append_report_line(g_config->report_file, path);
}

// A serialized profile to its file. `sequence` 0: the final file; n > 0: the
// n-th dump's. `flushing`: a periodic flush, whose failures are reported once
// per kind.
void write_built_file(ProfileKind kind, int sequence, const std::string& profile,
                      bool flushing = false) {
  const ProfileKindInfo& info = profile_kind_info(kind);
  std::string file_kind = info.file_name;
  if (sequence > 0) file_kind += "." + std::to_string(sequence);
  std::string name = profile_file_name(program_name(), getpid(), file_kind);
  std::string error;
  if (sequence == 0 && info.written_at_exit) {
    FinalFile* final = &g_final_files[static_cast<size_t>(kind)];
    OwnedWrite result =
        write_owned_profile_file(g_config->output_dir, name, profile, &final->file, &error);
    if (result == OwnedWrite::kCreated) {
      append_report(g_config->output_dir + "/" + name);  // listed once, however often rewritten
    } else if (result == OwnedWrite::kFailed && !(flushing && final->flush_failure_logged)) {
      log_write_failure(error);
      if (flushing) final->flush_failure_logged = true;
    }
    return;
  }
  if (write_profile_file(g_config->output_dir, name, profile, &error))
    append_report(g_config->output_dir + "/" + name);
  else
    log_write_failure(error);
}

// A profile from its snapshot to its file. `time_unix_ns`, `duration_ns`: as
// build_profile's; the rest as write_built_file's.
void write_file(ProfileKind kind, int sequence, const ProfileSnapshot& snapshot,
                int64_t time_unix_ns, int64_t duration_ns, Symbolizer* symbolizer,
                bool flushing = false) {
  // No usable output directory (reported at start): the profiles are only served live.
  if (g_config->output_dir.empty()) return;
  write_built_file(kind, sequence,
                   build_profile(kind, snapshot, time_unix_ns, duration_ns, symbolizer), flushing);
}

// The whole run's CPU profile. `flushing`: the sampler runs on (the store is
// read while it is written to).
void write_cpu_profile(Symbolizer* symbolizer, bool flushing = false) {
  if (!flushing) CpuSampler::stop();
  const int64_t duration = clock_ns(CLOCK_MONOTONIC) - g_start_mono_ns;
  const ProfileSnapshot snapshot = take_profile_snapshot(ProfileKind::kCpu);
  write_file(ProfileKind::kCpu, 0, snapshot, g_start_unix_ns, duration, symbolizer, flushing);
  if (flushing) return;
  if (uint64_t dropped = snapshot.cpu.dropped_samples) {
    log_line("%llu CPU samples (%.3f s of CPU time) were dropped: the sample store was full",
             static_cast<unsigned long long>(dropped),
             snapshot.cpu.dropped_weight / static_cast<double>(snapshot.cpu.hz));
  }
}

// `sequence` 0: the final profiles ("heap", "allocs"); n > 0: the n-th dump.
// Heap and allocs from one snapshot and one build (heap_profile.h).
void write_heap_profiles(int sequence, Symbolizer* symbolizer, bool flushing = false) {
  if (g_config->output_dir.empty()) return;  // as write_file
  const ProfileSnapshot heap = take_profile_snapshot(ProfileKind::kHeap);
  const HeapProfiles both =
      build_heap_profiles(heap.heap, heap_sampling_rate(), clock_ns(CLOCK_REALTIME), symbolizer);
  write_built_file(ProfileKind::kHeap, sequence, both.heap, flushing);
  write_built_file(ProfileKind::kAllocs, sequence, both.allocs, flushing);
}

// The whole run's wall profile so far. `sequence` as write_heap_profiles'.
void write_wall_profile(int sequence, Symbolizer* symbolizer, bool flushing = false) {
  const int64_t duration = clock_ns(CLOCK_MONOTONIC) - g_start_mono_ns;
  const ProfileSnapshot snapshot = take_profile_snapshot(ProfileKind::kWall);
  write_file(ProfileKind::kWall, sequence, snapshot, g_start_unix_ns, duration, symbolizer,
             flushing);
}

void write_contention_profiles(int sequence, Symbolizer* symbolizer, bool flushing = false) {
  const int64_t now = clock_ns(CLOCK_REALTIME);
  for (ProfileKind kind : {ProfileKind::kMutex, ProfileKind::kBlock})
    if (kind == ProfileKind::kMutex ? g_mutex_on : g_block_on)
      write_file(kind, sequence, take_profile_snapshot(kind), now, 0, symbolizer, flushing);
}

void write_thread_profiles(int sequence, const ProfileSnapshot& threads,
                           const ProfileSnapshot& created, Symbolizer* symbolizer) {
  const int64_t now = clock_ns(CLOCK_REALTIME);
  write_file(ProfileKind::kThreads, sequence, threads, now, 0, symbolizer);
  write_file(ProfileKind::kThreadCreate, sequence, created, now, 0, symbolizer);
}

bool dumps_on() { return g_heap_on || g_mutex_on || g_block_on || g_wall_on; }

// A dump while the program runs: every profile that has a meaning mid-run
// (heap, allocs, mutex, block, wall so far), all with the same sequence number. A dump
// asked for by the signal also has the threads and threadcreate profiles;
// periodic ones do not, since taking the threads profile interrupts every
// thread.
void write_dump(bool by_signal) {
  AgentScope scope;
  pthread_mutex_lock(&g_write_mutex);
  if (!g_written && dumps_on()) {
    ProfileSnapshot threads, created;
    if (by_signal) {  // first: the threads as they were when asked
      threads = take_profile_snapshot(ProfileKind::kThreads, kThreadStacksDeadlineMs);
      created = take_profile_snapshot(ProfileKind::kThreadCreate);
    }
    OneMappingsRead mappings;
    Symbolizer* symbolizer = Symbolizer::shared();
    int sequence = ++g_dump_sequence;
    if (by_signal) write_thread_profiles(sequence, threads, created, symbolizer);
    if (g_heap_on) write_heap_profiles(sequence, symbolizer);
    write_contention_profiles(sequence, symbolizer);
    if (g_wall_on) write_wall_profile(sequence, symbolizer);
  }
  pthread_mutex_unlock(&g_write_mutex);
}

// The periodic flush (PPROF_FLUSH_INTERVAL): the profiles the exit writes, as
// they stand now, under their final names, so that a kill or a crash loses at
// most one interval. The exit's write replaces the last flush.
void flush_profiles() {
  AgentScope scope;
  pthread_mutex_lock(&g_write_mutex);
  if (!g_written) {
    OneMappingsRead mappings;
    Symbolizer* symbolizer = Symbolizer::shared();
    if (g_cpu_on) write_cpu_profile(symbolizer, /*flushing=*/true);
    if (g_heap_on) write_heap_profiles(0, symbolizer, /*flushing=*/true);
    write_contention_profiles(0, symbolizer, /*flushing=*/true);
    if (g_wall_on) write_wall_profile(0, symbolizer, /*flushing=*/true);
  }
  pthread_mutex_unlock(&g_write_mutex);
}

void on_agent_signal(int signo) { wakeup_post(signo); }

// The program installed its own handler for the dump signal after the agent
// started (interpose_signals.cc): its handler gets the signal from now on.
void on_program_takes_dump_signal(int signo) {
  log_line("the program installed its own handler for the dump signal %d (%s); dumps by signal "
           "are off", signo, strsignal(signo));
}

// Takes over `signo` only while nobody else has: an ignored signal stays
// ignored (also for the program's children), a handler installed before the
// agent stays in charge.
bool install_agent_handler(int signo) {
  struct sigaction old;
  if (sigaction(signo, nullptr, &old) != 0) return false;
  bool is_default = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
  if (!is_default) return false;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_agent_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(signo, &action, nullptr) != 0) return false;
  // A termination signal the program takes over is simply its own again (the
  // profiles are still written at exit).
  claim_signal(signo, reinterpret_cast<void*>(on_agent_signal),
               signo == g_config->dump_signal ? on_program_takes_dump_signal : nullptr);
  return true;
}

void restore_default_if_agents(int signo) {
  struct sigaction current;
  if (sigaction(signo, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
      current.sa_handler == on_agent_signal)
    signal(signo, SIG_DFL);
}

bool is_termination_signal(int signo) {
  for (int t : kTerminationSignals)
    if (t == signo) return true;
  return false;
}

// Dumps by time and by bytes allocated, checked on each wake-up.
struct PeriodicDumps {
  int64_t next_time_ns = 0;
  uint64_t next_bytes = 0;

  void reset() {
    next_time_ns = g_config->heap_dump_interval > 0
                       ? clock_ns(CLOCK_MONOTONIC) + g_config->heap_dump_interval * 1000000000LL
                       : 0;
    next_bytes = static_cast<uint64_t>(g_config->heap_dump_bytes);
  }

  bool due() {
    bool dump = false;
    if (next_time_ns != 0 && clock_ns(CLOCK_MONOTONIC) >= next_time_ns) {
      next_time_ns += g_config->heap_dump_interval * 1000000000LL;
      dump = true;
    }
    if (next_bytes != 0) {
      // Each sample stands for `rate` bytes allocated, on average.
      uint64_t allocated = heap_samples_taken() * static_cast<uint64_t>(heap_sampling_rate());
      if (allocated >= next_bytes) {
        while (next_bytes <= allocated) next_bytes += static_cast<uint64_t>(g_config->heap_dump_bytes);
        dump = true;
      }
    }
    return dump;
  }
} g_periodic;

// The program's last thread ended (it was not main's return, or exit() would
// have ended the process): glibc would now call exit(0), but the agent's
// threads are still there, so the agent's thread does it. Threads the count
// misses (started before the agent, or with clone) are looked for in
// /proc/self/task: any of them still running keeps the process alive.
bool only_agent_threads_left() {
  if (program_threads_running() > 0) return false;
  for (pid_t tid : list_threads()) {
    if (is_agent_thread(tid)) continue;
    ThreadStatus status = read_thread_status(tid);
    if (status.exists && !status.exited) return false;
  }
  return true;
}

// The agent's own thread: never sampled (created with the real
// pthread_create), every signal blocked, so it never runs program code.
void* agent_thread_main(void*) {
  AgentScope scope;
  const bool periodic = dumps_on() && (g_config->heap_dump_interval > 0 || g_config->heap_dump_bytes > 0);
  const int64_t flush_ns = g_config->flush_interval * 1000000000LL;
  int64_t next_flush_ns = flush_ns > 0 ? clock_ns(CLOCK_MONOTONIC) + flush_ns : 0;
  if (periodic || flush_ns > 0) release_agent_thread_cpu();
  for (;;) {
    // A burst of one signal before the thread looks is one pending bit: one dump.
    const uint64_t pending = wakeup_wait(periodic || flush_ns > 0 ? 100 : 1000);
    CpuSampler::program_started();  // if start_main did not say so (a program without it)
    if (pending != 0) release_agent_thread_cpu();
    if (only_agent_threads_left()) {
      release_agent_thread_cpu();
      write_profiles_at_end();
      exit(0);  // the program's exit handlers run here, as on its last thread
    }
    g_module_tables->refresh();
    // A crashing thread waits (bounded) in its handler for this write.
    bool fatal = false;
    for (int signo = 1; signo <= 64; signo++)
      if ((pending & signal_bit(signo)) && is_fatal_signal(signo)) fatal = true;
    if (fatal) {
      write_profiles_at_end();
      wakeup_mark_served();
    }
    if (periodic && g_periodic.due()) write_dump(/*by_signal=*/false);
    if (next_flush_ns != 0 && clock_ns(CLOCK_MONOTONIC) >= next_flush_ns) {
      flush_profiles();
      // After a slow flush the next one is a full interval away, not at once.
      next_flush_ns = std::max(next_flush_ns + flush_ns, clock_ns(CLOCK_MONOTONIC) + flush_ns / 2);
    }
    if (pending == 0) continue;

    const int dump = g_config->dump_signal;
    const bool dump_requested = dump != 0 && (pending & signal_bit(dump));
    for (int signo : kTerminationSignals) {
      if (!(pending & signal_bit(signo)) || signo == dump) continue;
      write_profiles_at_end();
      // Now die as the program would have without us — unless the program
      // has meanwhile installed a handler of its own, which then stays in charge.
      struct sigaction current;
      if (sigaction(signo, nullptr, &current) != 0 || current.sa_handler != on_agent_signal)
        continue;
      signal(signo, SIG_DFL);
      kill(getpid(), signo);
    }
    if (dump_requested) write_dump(/*by_signal=*/true);
  }
}

// The agent's library, found from one of its own functions.
void name_agent_library_without_dwarf() {
  Dl_info info;
  struct stat st;
  if (dladdr(reinterpret_cast<void*>(&name_agent_library_without_dwarf), &info) != 0 &&
      info.dli_fname != nullptr && stat(info.dli_fname, &st) == 0)
    name_without_dwarf(FileIdentity::of(st));
}

// The wall sampler's own agent thread: it has work from the start, so it is
// not kept on one CPU as the agent's idle thread is.
void* wall_thread_main(void*) {
  WallSampler::run(g_config->wall_hz, g_wall_store, g_module_tables);
  return nullptr;
}

// Starts the wall sampler (g_wall_store made); false, with one line, if its
// thread cannot start.
bool start_wall_thread() {
  pthread_t thread;
  if (start_agent_thread(&thread, nullptr, wall_thread_main, nullptr) != 0) {
    log_line("cannot start the wall sampler's thread; wall-clock profiling is off");
    return false;
  }
  pthread_setname_np(thread, "ppagent-wall");
  pthread_detach(thread);
  return true;
}

bool start_dump_thread() {
  pthread_t thread;
  {
    KeepOnCurrentCpu born_here;
    if (start_agent_thread(&thread, nullptr, agent_thread_main, nullptr) != 0) return false;
  }
  pthread_setname_np(thread, "ppagent");
  pthread_detach(thread);
  g_periodic.reset();
  return true;
}

void install_signal_handlers() {
  for (int signo : kTerminationSignals) install_agent_handler(signo);
  int dump = g_config->dump_signal;
  if (dumps_on() && dump != 0 && !is_termination_signal(dump) && !install_agent_handler(dump))
    log_line("the dump signal %d (%s) already has a handler or is ignored; dumps by signal "
             "are off", dump, strsignal(dump));
  if (!g_config->output_dir.empty()) install_fatal_signal_handlers();
}

void at_exit() {
  AgentScope scope;  // before the call: see main_then_write (interpose_exit.cc)
  write_profiles_at_end();
}

void prepare_fork() {
  AgentScope scope;
  CpuSampler::prepare_fork();
  HeapProfiler::prepare_fork();
}

void parent_after_fork() {
  AgentScope scope;
  HeapProfiler::parent_after_fork();
  CpuSampler::parent_after_fork();
  // daemon()'s parent ends next, in libc's own _exit: its last chance.
  if (forking_for_daemon()) write_profiles_at_end();
}

// With PPROF_CHILDREN=0 a forked child is not profiled: everything stops
// recording and the signals the agent took go back to their default action,
// as if the agent were not loaded.
void go_inert_in_child() {
  set_agent_active(false);
  ContentionProfiler::child_after_fork(/*keep_recording=*/false);
  route_mutex_hooks(/*lock_profiled=*/false, /*unlock_profiled=*/false, /*rebind_calls=*/false);
  forget_lock_thread_id();
  HeapProfiler::child_after_fork(/*keep_recording=*/false);
  thread_stacks_child_after_fork();
  thread_creation_child_after_fork();
  CpuSampler::child_after_fork(nullptr);
  CpuSampler::stop();
  CpuSampler::give_back_signal_in_child();
  forget_all_agent_threads();
  for (int signo : kTerminationSignals) restore_default_if_agents(signo);
  if (g_config->dump_signal != 0) restore_default_if_agents(g_config->dump_signal);
  remove_fatal_signal_handlers();
}

// A child forked without exec is a process of its own: its own files (its
// pid in the names), its own agent thread, and profiles of what it does from
// now on: CPU samples, heap samples and contention events of the parent are
// forgotten (a block it inherited and frees is not counted as a free).
void child_after_fork() {
  AgentScope scope;
  reset_unload_guard_in_child();  // walks and unloads of the parent's other threads
  if (!agent_active(std::memory_order_seq_cst)) return;
  set_agent_process_id(getpid());
  Symbolizer::shared()->child_after_fork();
  if (!g_fork_children_profiled) {
    go_inert_in_child();
    return;
  }
  ContentionProfiler::child_after_fork(/*keep_recording=*/true);
  forget_lock_thread_id();
  HeapProfiler::child_after_fork(/*keep_recording=*/true);
  thread_stacks_child_after_fork();
  thread_creation_child_after_fork();
  g_write_mutex = PTHREAD_MUTEX_INITIALIZER;
  g_written = false;
  g_dump_sequence = 0;
  g_start_unix_ns = clock_ns(CLOCK_REALTIME);
  g_start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  if (g_cpu_on) {
    TraceStore* inherited = g_cpu_store;
    g_cpu_store = new_cpu_store();
    CpuSampler::child_after_fork(g_cpu_store);
    delete inherited;  // no timer fires in this process before the line above
  } else {
    CpuSampler::child_after_fork(nullptr);
  }
  forget_all_agent_threads();
  forget_other_program_threads();
  if (g_wall_on) {
    // The parent's sampler thread is not here: nothing writes its store.
    delete g_wall_store;
    g_wall_store = new_cpu_store();
    WallSampler::child_after_fork();
    g_wall_on = g_wall_store->ok() && start_wall_thread();
  }
  wakeup_reset();
  for (FinalFile& f : g_final_files) f = FinalFile{};  // the parent's files
  if (!start_dump_thread()) log_line("cannot start the agent's thread in a forked child");
}

AgentState state_now() {
  AgentState state;
  state.config = g_config;
  state.cpu_on = g_cpu_on;
  state.heap_on = g_heap_on;
  state.mutex_on = g_mutex_on;
  state.block_on = g_block_on;
  state.wall_on = g_wall_on;
  state.cpu_store = g_cpu_store;
  state.wall_store = g_wall_store;
  state.module_tables = g_module_tables;
  state.start_unix_ns = g_start_unix_ns;
  state.start_mono_ns = g_start_mono_ns;
  return state;
}

__attribute__((constructor)) void agent_start() {
  AgentScope scope;
  set_agent_state_reader(state_now);
  set_exit_writer(write_profiles_at_end);
  if (getauxval(AT_SECURE) != 0) {
    // A setuid/setgid program: its environment comes from a less privileged
    // user, so none of it is read and nothing is recorded, written or served.
    log_line("secure execution (setuid or setgid program): the agent does nothing");
    HeapProfiler::start(0, nullptr);  // the allocation hooks just forward
    route_mutex_hooks(/*lock_profiled=*/false, /*unlock_profiled=*/false, /*rebind_calls=*/false);
    return;
  }
  remember_program_name();  // before the program can rewrite argv (setproctitle)
  std::vector<std::string> problems;
  g_config = new Config(parse_config(getenv, current_directory(), &problems));
  set_profile_file_mode(g_config->file_mode);
  configure_build_id_cache(g_config->cache_dir, g_config->cache_dir_named);
  name_agent_library_without_dwarf();
  const ProcessFilter process_filter = parse_process_filter(getenv, &problems);
  g_fork_children_profiled = process_filter.children;
  for (const std::string& p : problems) log_line("%s", p.c_str());
  if (!process_filter.children) {
    // Programs this one execs must not load the agent.
    std::string error;
    if (!remove_agent_from_preload(&error))
      log_line("%s; programs started from this one may be profiled too", error.c_str());
  }
  if (!program_selected(process_filter, program_name())) {
    start_heap_backend(g_config->heap_backend, 0, nullptr);  // not this program: the hooks just forward
    take_idle_malloc_hooks_out_of_calls();
    route_mutex_hooks(/*lock_profiled=*/false, /*unlock_profiled=*/false);
    return;
  }
  // Recording is useful when its profiles can be written or served live.
  const bool want_http = !g_config->http_host.empty();
  const bool worth_recording = !g_config->output_dir.empty() || want_http;
  const bool want_cpu = worth_recording && g_config->cpu_hz > 0;
  const bool want_heap = worth_recording && g_config->mem_rate > 0;
  const bool want_mutex = worth_recording && g_config->mutex_fraction > 0;
  const bool want_block = worth_recording && g_config->block_rate > 0;
  const bool want_wall = worth_recording && g_config->wall_hz > 0;
  if (!want_cpu && !want_heap && !want_mutex && !want_block && !want_http && !want_wall) {
    start_heap_backend(g_config->heap_backend, 0, nullptr);  // the allocation hooks just forward from now on
    take_idle_malloc_hooks_out_of_calls();
    route_mutex_hooks(/*lock_profiled=*/false, /*unlock_profiled=*/false);
    return;
  }

  g_start_unix_ns = clock_ns(CLOCK_REALTIME);
  g_start_mono_ns = clock_ns(CLOCK_MONOTONIC);
  note_current_thread_stack();  // the agent starts on the main thread
  g_module_tables = new ModuleTables();
  g_module_tables->refresh(true);
  init_caller_stack();
  init_thread_stacks(g_module_tables, &CpuSampler::install_handler, &cpu_signal);
  // Chosen before any handler of the agent's is installed (the dump signal's
  // is not there yet, hence `avoid`); the threads profile and live CPU
  // windows use it even when CPU profiling is off.
  CpuSampler::choose_signal(g_config->cpu_signal, g_config->dump_signal);

  start_heap_backend(g_config->heap_backend, want_heap ? g_config->mem_rate : 0, g_module_tables);
  take_idle_malloc_hooks_out_of_calls();
  g_heap_on = want_heap;
  if (want_mutex || want_block) {
    ContentionProfiler::start(want_mutex ? g_config->mutex_fraction : 0,
                              want_block ? g_config->block_rate : 0, g_module_tables);
    g_mutex_on = want_mutex;
    g_block_on = want_block;
    route_mutex_hooks(/*lock_profiled=*/true, /*unlock_profiled=*/want_mutex);
  } else {
    route_mutex_hooks(/*lock_profiled=*/false, /*unlock_profiled=*/false);
  }

  if (want_cpu) {
    g_cpu_store = new_cpu_store();
    if (!g_cpu_store->ok())
      log_line("cannot map memory for CPU samples; CPU profiling is off");
    else
      g_cpu_on = CpuSampler::start(g_config->cpu_hz, g_cpu_store, g_module_tables);
  }
  if (!g_cpu_on && !dumps_on() && !want_http && !want_wall) return;
  set_agent_process_id(getpid());
  set_agent_active(true);
  watch_main_thread_exit();
  if (want_wall) {
    g_wall_store = new_cpu_store();
    if (!g_wall_store->ok())
      log_line("cannot map memory for wall samples; wall-clock profiling is off");
    else
      g_wall_on = start_wall_thread();
  }

  if (start_dump_thread()) install_signal_handlers();
  else log_line("cannot start the agent's thread; profiles are written only at exit");
  if (want_http) start_http_server(*g_config);  // once active: its threads are the agent's
  pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
  atexit(at_exit);
}

}  // namespace

void write_profiles_at_end() {
  if (!agent_active(std::memory_order_seq_cst)) return;
  AgentScope scope;
  pthread_mutex_lock(&g_write_mutex);
  if (!g_written) {
    g_written = true;
    // As Go's StopCPUProfile before writing: the writing is not the program's CPU.
    if (g_cpu_on) CpuSampler::stop();
    if (g_wall_on) WallSampler::stop();
    OneMappingsRead mappings;
    Symbolizer* symbolizer = Symbolizer::shared();  // what earlier writes resolved is kept
    if (g_cpu_on) write_cpu_profile(symbolizer);
    if (g_heap_on) write_heap_profiles(0, symbolizer);
    write_contention_profiles(0, symbolizer);
    if (g_wall_on) write_wall_profile(0, symbolizer);
  }
  pthread_mutex_unlock(&g_write_mutex);
}

}  // namespace ppagent
