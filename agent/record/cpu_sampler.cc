#include "record/cpu_sampler.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <vector>
#include <mutex>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unordered_map>

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "base/agent_threads.h"
#include "base/config.h"
#include "base/log.h"
#include "base/signal_masks.h"
#include "base/thread_proc.h"
#include "base/thread_random.h"
#include "record/thread_stacks.h"

namespace ppagent {

namespace {

// Marks our timers' signals, so that the same signal from anyone else is ignored.
constexpr int kTimerCookie = 0x70707266;

std::atomic<int> g_signal{0};
std::atomic<bool> g_running{false};
// The program took the CPU signal for itself: the agent never takes it back.
std::atomic<bool> g_signal_given_up{false};
TraceStore* g_store = nullptr;
ModuleTables* g_tables = nullptr;
int64_t g_period_ns = 0;

std::mutex g_timers_mutex;
std::unordered_map<pid_t, int>* g_timers = nullptr;  // tid -> kernel timer id

// ---- the signal handler --------------------------------------------------
// Async-signal-safe: bounded stack walk over prepared tables, a lock-free
// store, and two plain system calls (gettid, prctl). No allocation, no locks.
// The agent library's own code: from its ELF header to the end of its text
// (symbols the linker defines in every object; hidden, so these are the
// agent's own and not the program's).
extern "C" const char __ehdr_start[] __attribute__((weak, visibility("hidden")));
extern "C" const char __etext[] __attribute__((weak, visibility("hidden")));

std::atomic<bool> g_program_started{false};

bool passes_through_agent_code(const uintptr_t* pcs, int depth) {
  const auto start = reinterpret_cast<uintptr_t>(__ehdr_start);
  const auto end = reinterpret_cast<uintptr_t>(__etext);
  for (int i = 0; i < depth; i++)
    if (pcs[i] >= start && pcs[i] < end) return true;
  return false;
}

void on_cpu_signal(int, siginfo_t* info, void* context) {
  // The whole value: a stack request's timer (thread_stacks.cc) carries
  // another one, whose low half may equal the cookie.
  if (info->si_code != SI_TIMER ||
      info->si_value.sival_ptr != reinterpret_cast<void*>(static_cast<uintptr_t>(kTimerCookie))) {
    // Not a CPU timer: perhaps a request for this thread's stack.
    const int saved_errno = errno;
    answer_thread_stack_request(info, context, g_tables);
    errno = saved_errno;
    return;
  }
  if (!g_running.load(std::memory_order_relaxed)) return;
  // The agent's own work on a program thread (its start-up, a sampled
  // allocation's stack walk, a contention's record, the writing at exit) is
  // not the program's CPU time.
  if (t_in_agent) return;
  const int saved_errno = errno;
  const uint64_t weight = 1 + static_cast<uint64_t>(info->si_overrun > 0 ? info->si_overrun : 0);

  uintptr_t pcs[kMaxStackDepth];
  TraceKey key;
  key.depth = g_tables->walk(static_cast<const ucontext_t*>(context), current_thread_stack(), pcs,
                             kMaxStackDepth);
  if (!g_program_started.load(std::memory_order_relaxed) &&
      passes_through_agent_code(pcs, key.depth)) {  // the agent's start-up
    errno = saved_errno;
    return;
  }
  key.pcs = pcs;
  key.tid = current_tid();
  memset(key.thread_name, 0, sizeof key.thread_name);
  prctl(PR_GET_NAME, key.thread_name, 0, 0, 0);
  g_store->add(key, weight);
  errno = saved_errno;
}
// ---------------------------------------------------------------------------

// The CPU-time clock of any thread of this process (the kernel's encoding,
// which pthread_getcpuclockid uses too but only for pthread_t handles).
clockid_t thread_cpu_clock(pid_t tid) {
  constexpr clockid_t kPerThread = 4, kSched = 2;
  return (~static_cast<clockid_t>(tid) << 3) | kPerThread | kSched;
}

// Creates and arms a timer for `tid`; returns the kernel timer id or -1.
int arm_timer(pid_t tid) {
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = g_signal.load(std::memory_order_relaxed);
  event.sigev_value.sival_int = kTimerCookie;
  event._sigev_un._tid = tid;
  int timer_id = -1;
  if (syscall(SYS_timer_create, thread_cpu_clock(tid), &event, &timer_id) != 0) return -1;

  // The first expiry is uniform in (0, period] so that threads living less
  // than a period are sampled in proportion to their CPU time.
  int64_t first = 1 + static_cast<int64_t>(thread_random() % static_cast<uint64_t>(g_period_ns));
  struct itimerspec spec;
  spec.it_interval.tv_sec = g_period_ns / 1000000000;
  spec.it_interval.tv_nsec = g_period_ns % 1000000000;
  spec.it_value.tv_sec = first / 1000000000;
  spec.it_value.tv_nsec = first % 1000000000;
  if (syscall(SYS_timer_settime, timer_id, 0, &spec, nullptr) != 0) {
    syscall(SYS_timer_delete, timer_id);
    return -1;
  }
  return timer_id;
}

void register_thread(pid_t tid) {
  std::lock_guard<std::mutex> lock(g_timers_mutex);
  if (!g_running.load() || g_timers->count(tid) || is_agent_thread(tid)) return;
  int timer_id = arm_timer(tid);
  if (timer_id >= 0) (*g_timers)[tid] = timer_id;
}

}  // namespace

bool CpuSampler::running() { return g_running.load(); }

void CpuSampler::program_started() { g_program_started.store(true, std::memory_order_relaxed); }

int cpu_signal() { return g_signal.load(std::memory_order_relaxed); }

int CpuSampler::choose_signal(int requested, int avoid) {
  if (requested != 0) {
    g_signal.store(requested);
    return requested;
  }
  for (int signo = SIGRTMAX; signo >= SIGRTMIN; signo--) {
    if (signo == avoid) continue;
    struct sigaction current;
    if (sigaction(signo, nullptr, &current) != 0) continue;
    if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) {
      g_signal.store(signo);
      return signo;
    }
  }
  log_line("every real-time signal already has a handler or is ignored; CPU profiling and the "
           "threads profile's stacks are off (PPROF_CPU_SIGNAL can name a signal to use)");
  g_signal_given_up.store(true);
  return 0;
}

namespace {
// Timer signals already queued when the timers were deleted are still
// delivered; they must reach the agent's handler (which drops them), not the
// program's. Waits, at most 200 ms, until no thread that can take one has one
// pending. A thread blocking the signal right now keeps its one pending signal.
void wait_for_queued_timer_signals(int signo) {
  for (int round = 0; round < 200; round++) {
    bool pending = false;
    for (pid_t tid : list_threads()) {
      ThreadStatus status = read_thread_status(tid);
      if (status.exists && status.pending(signo) && !status.blocked(signo)) pending = true;
    }
    if (!pending) return;
    struct timespec step = {0, 1000000};
    nanosleep(&step, nullptr);
  }
}

// The program installs a handler for the CPU signal (or ignores it), through
// the interposed sigaction/signal, or shows that it waits for that signal
// itself (interpose_masks.cc), after the agent started: the agent's timers
// stop in every thread before the program's disposition is set, so its
// handler gets only its own signals. Samples taken so far are still written.
void on_program_takes_cpu_signal(int signo) {
  g_signal_given_up.store(true);
  const bool was_running = g_running.load();
  CpuSampler::stop();
  thread_stacks_cpu_signal_given_up();
  wait_for_queued_timer_signals(signo);
  const std::string name = signal_name(signo);
  if (was_running)
    log_line("the program took %s, the agent's CPU signal, for itself; CPU profiling stopped "
             "(the samples taken so far are written) and threads profiles show only threads "
             "blocked in system calls (PPROF_CPU_SIGNAL can name another signal)", name.c_str());
  else
    log_line("the program took %s, the agent's CPU signal, for itself; threads profiles show "
             "only threads blocked in system calls (PPROF_CPU_SIGNAL can name another signal)",
             name.c_str());
}

bool set_cpu_signal_handler(int signo) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_cpu_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  // Every other signal waits while the handler runs, as glibc's profil() does
  // for its own. A timer tick often raises the agent's signal (thread-directed)
  // and a program's process-directed one together, such as gprof's SIGPROF
  // from ITIMER_PROF, which counts on the same CPU clock at the same rate. The
  // kernel sets up the thread-directed signal's frame first, then, unless the
  // handler's mask blocks it, the other's on top: the program's handler would
  // run first and see the agent's handler as the interrupted code (gprof then
  // dropped such ticks, in some runs all of them). Blocked, it is delivered
  // after the agent's handler returns, at the program's own instruction.
  // Faults stay deliverable: one in the handler still reaches a fault handler.
  sigfillset(&action.sa_mask);
  for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT})
    sigdelset(&action.sa_mask, fault);
  if (sigaction(signo, &action, nullptr) != 0) return false;
  claim_signal(signo, reinterpret_cast<void*>(on_cpu_signal), on_program_takes_cpu_signal);
  // glibc fills in its own sigreturn trampoline: the walker needs to know it.
  struct sigaction installed;
  if (g_tables != nullptr && sigaction(signo, nullptr, &installed) == 0)
    g_tables->note_signal_return(reinterpret_cast<uintptr_t>(installed.sa_restorer));
  return true;
}
}  // namespace

bool CpuSampler::install_handler(ModuleTables* tables) {
  const int signo = cpu_signal();
  if (signo == 0) return false;
  struct sigaction current;
  if (sigaction(signo, nullptr, &current) != 0) return false;
  if (g_signal_given_up.load()) return false;
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_cpu_signal) return true;
  // The program's own handler, or the signal ignored: left as it is.
  if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) return false;
  if (g_tables == nullptr) g_tables = tables;  // before the handler can run
  return set_cpu_signal_handler(signo);
}

bool CpuSampler::start(int hz, TraceStore* store, ModuleTables* tables) {
  if (hz <= 0) return false;
  g_store = store;
  g_tables = tables;
  g_period_ns = 1000000000LL / hz;
  if (g_timers == nullptr) g_timers = new std::unordered_map<pid_t, int>();

  const int signo = cpu_signal();
  if (signo == 0) return false;  // none could be chosen (said so then)
  const std::string name = signal_name(signo);
  // The signal PPROF_CPU_SIGNAL names is already handled or ignored (a
  // library loaded before the agent, or a parent that ignored it): the
  // program's; CPU profiling steps aside.
  struct sigaction current;
  if (sigaction(signo, nullptr, &current) == 0 &&
      !((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_cpu_signal) &&
      ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL)) {
    g_signal_given_up.store(true);
    const bool ignored = !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN;
    log_line("%s %s; CPU profiling is off", name.c_str(),
             ignored ? "is ignored in this process" : "already has a handler of the program's");
    return false;
  }
  if (!set_cpu_signal_handler(signo)) {
    log_line("cannot install the %s handler (%s); CPU profiling is off", name.c_str(),
             strerror(errno));
    return false;
  }
  // The signal blocked on this (the main) thread before the agent started, a
  // mask inherited through exec, would leave it unsampled: the agent unblocks
  // it and shows the program the mask it inherited (signal_masks.h).
  if (!is_agent_thread(current_tid())) keep_cpu_signal_unblocked(signo);
  g_running.store(true);

  // Threads that already exist (normally just the main thread, since the
  // agent starts before main).
  std::vector<pid_t> threads = list_threads();
  if (threads.empty()) threads.push_back(current_tid());
  for (pid_t tid : threads) register_thread(tid);
  std::lock_guard<std::mutex> lock(g_timers_mutex);
  if (g_timers->empty()) {
    g_running.store(false);
    log_line("cannot create CPU timers (%s); CPU profiling is off", strerror(errno));
    return false;
  }
  return true;
}

void CpuSampler::stop() {
  std::lock_guard<std::mutex> lock(g_timers_mutex);
  if (!g_running.exchange(false)) return;
  for (const auto& [tid, timer_id] : *g_timers) syscall(SYS_timer_delete, timer_id);
  g_timers->clear();
}

void CpuSampler::thread_started() {
  if (g_running.load(std::memory_order_relaxed)) register_thread(current_tid());
}

void CpuSampler::prepare_fork() { g_timers_mutex.lock(); }

void CpuSampler::parent_after_fork() { g_timers_mutex.unlock(); }

void CpuSampler::child_after_fork(TraceStore* fresh_store) {
  g_timers_mutex.unlock();
  if (g_timers) g_timers->clear();  // the parent's timers do not exist here
  if (fresh_store == nullptr) return;
  g_store = fresh_store;
  if (g_running.load()) register_thread(current_tid());
}

void CpuSampler::give_back_signal_in_child() {
  const int signo = cpu_signal();
  if (signo == 0 || !signal_claim_recorded(signo)) return;
  forget_claim(signo);
  // A fork child has no pending signals and no timers: nothing of the
  // agent's can arrive after this.
  struct sigaction current;
  if (sigaction(signo, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
      current.sa_sigaction == on_cpu_signal)
    signal(signo, SIG_DFL);
  if (t_program_blocks_cpu_signal) {
    sigset_t just_this;
    sigemptyset(&just_this);
    sigaddset(&just_this, signo);
    pthread_sigmask(SIG_BLOCK, &just_this, nullptr);
  }
}

void CpuSampler::thread_exiting() {
  if (g_timers == nullptr) return;
  // POSIX timers belong to the process, not the thread: without this, every
  // thread that ever ran would leave a dead timer behind.
  std::lock_guard<std::mutex> lock(g_timers_mutex);
  auto it = g_timers->find(current_tid());
  if (it == g_timers->end()) return;
  syscall(SYS_timer_delete, it->second);
  g_timers->erase(it);
}

}  // namespace ppagent
