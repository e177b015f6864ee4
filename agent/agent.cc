#include "agent.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "config.h"
#include "cpu_profile.h"
#include "cpu_sampler.h"
#include "log.h"
#include "profile_file.h"
#include "real_functions.h"
#include "stack_walker.h"
#include "trace_store.h"

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

std::atomic<bool> g_active{false};
int64_t g_start_unix_ns = 0, g_start_mono_ns = 0;
TraceStore* g_cpu_store = nullptr;
ModuleTables* g_module_tables = nullptr;

// A plain pthread mutex, so that a forked child can re-initialize it (the
// parent may have been writing on another thread at the time).
pthread_mutex_t g_write_mutex = PTHREAD_MUTEX_INITIALIZER;
bool g_written = false;

// Termination signals are turned into a byte on this pipe, read by the
// agent's thread, which writes the profiles and then lets the signal kill.
int g_signal_pipe[2] = {-1, -1};
constexpr int kTerminationSignals[] = {SIGINT, SIGTERM, SIGHUP};

int64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string current_directory() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string();
}

void append_report(const std::string& path) {
  if (g_config->report_file.empty()) return;
  int fd = open(g_config->report_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string line = path + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

void write_cpu_profile() {
  CpuSampler::stop();
  CpuProfileParams params;
  params.hz = g_config->cpu_hz;
  params.start_unix_ns = g_start_unix_ns;
  params.duration_ns = now_ns(CLOCK_MONOTONIC) - g_start_mono_ns;
  std::string profile = build_cpu_profile(*g_cpu_store, params);
  std::string name = profile_file_name(program_invocation_short_name, getpid(), "cpu");
  std::string error;
  if (write_profile_file(g_config->output_dir, name, profile, &error))
    append_report(g_config->output_dir + "/" + name);
  else
    log_line("%s", error.c_str());
  if (uint64_t dropped = g_cpu_store->dropped_samples()) {
    log_line("%llu CPU samples (%.3f s of CPU time) were dropped: the sample store was full",
             static_cast<unsigned long long>(dropped),
             g_cpu_store->dropped_weight() / static_cast<double>(g_config->cpu_hz));
  }
}

void on_termination_signal(int signo) {
  int saved_errno = errno;
  unsigned char byte = static_cast<unsigned char>(signo);
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

void install_termination_handlers() {
  for (int signo : kTerminationSignals) {
    struct sigaction old;
    if (sigaction(signo, nullptr, &old) != 0) continue;
    // An ignored signal stays ignored, and a handler someone installed before
    // us stays theirs.
    bool is_default = !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL;
    if (!is_default) continue;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_termination_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(signo, &action, nullptr);
  }
}

// The agent's own thread: never sampled (created with the real
// pthread_create), every signal blocked, so it never runs program code.
void* agent_thread_main(void*) {
  for (;;) {
    struct pollfd pfd = {g_signal_pipe[0], POLLIN, 0};
    int ready = poll(&pfd, 1, 1000);
    if (ready < 0 && errno != EINTR) return nullptr;
    if (g_module_tables && CpuSampler::running()) g_module_tables->refresh();
    if (ready <= 0) continue;
    unsigned char signo;
    if (read(g_signal_pipe[0], &signo, 1) != 1) continue;
    write_profiles_at_end();
    // Now die as the program would have without us — unless the program has
    // meanwhile installed a handler of its own, which then stays in charge.
    struct sigaction current;
    if (sigaction(signo, nullptr, &current) != 0 || current.sa_handler != on_termination_signal)
      continue;
    signal(signo, SIG_DFL);
    kill(getpid(), signo);
  }
}

bool start_agent_thread() {
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  // The read end blocks in poll() only; writes must never block a handler.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int rc = real_pthread_create()(&thread, nullptr, agent_thread_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return false;
  pthread_setname_np(thread, "ppagent");
  pthread_detach(thread);
  return true;
}

void at_exit() { write_profiles_at_end(); }

void prepare_fork() { CpuSampler::prepare_fork(); }

void parent_after_fork() { CpuSampler::parent_after_fork(); }

// A child forked without exec is a process of its own: its own samples from
// now on, its own file (its pid in the name), its own agent thread. The
// parent's samples stay with the parent, so nothing is written twice.
void child_after_fork() {
  g_write_mutex = PTHREAD_MUTEX_INITIALIZER;
  g_written = false;
  TraceStore* inherited = g_cpu_store;
  g_cpu_store = new_cpu_store();
  g_start_unix_ns = now_ns(CLOCK_REALTIME);
  g_start_mono_ns = now_ns(CLOCK_MONOTONIC);
  CpuSampler::child_after_fork(g_cpu_store);
  delete inherited;  // no timer fires in this process before the line above
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  if (!start_agent_thread()) log_line("cannot start the agent's thread in a forked child");
}

__attribute__((constructor)) void agent_start() {
  std::vector<std::string> problems;
  g_config = new Config(parse_config(getenv, current_directory(), &problems));
  for (const std::string& p : problems) log_line("%s", p.c_str());
  if (g_config->cpu_hz == 0 || g_config->output_dir.empty()) return;

  g_start_unix_ns = now_ns(CLOCK_REALTIME);
  g_start_mono_ns = now_ns(CLOCK_MONOTONIC);
  g_module_tables = new ModuleTables();
  g_module_tables->refresh(true);
  g_cpu_store = new_cpu_store();
  if (!g_cpu_store->ok()) {
    log_line("cannot map memory for CPU samples; CPU profiling is off");
    return;
  }
  g_active.store(true);
  if (!CpuSampler::start(g_config->cpu_hz, g_cpu_store, g_module_tables)) {
    g_active.store(false);
    return;
  }
  if (start_agent_thread()) install_termination_handlers();
  else log_line("cannot start the agent's thread; profiles are written only at exit");
  pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
  atexit(at_exit);
}

}  // namespace

bool agent_active() { return g_active.load(std::memory_order_relaxed); }

void write_profiles_at_end() {
  if (!g_active.load()) return;
  pthread_mutex_lock(&g_write_mutex);
  if (!g_written) {
    g_written = true;
    write_cpu_profile();
  }
  pthread_mutex_unlock(&g_write_mutex);
}

}  // namespace ppagent
