// The wall sampler's ticks (wall_sampler.h). Per tick and thread the common
// case is one system call: a thread whose CPU clock has not moved since its
// last sample has not run, so it is where it was, and its last sample counts
// again. Only a thread that ran is looked at again: its system call state,
// then its stack from outside (waiting) or from its own signal handler
// (running).
#include "record/wall_sampler.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iterator>
#include <ctime>
#include <sys/stat.h>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

#include "base/agent_threads.h"
#include "base/clock.h"
#include "base/thread_proc.h"
#include "record/cpu_sampler.h"
#include "record/thread_stacks.h"

namespace ppagent {

namespace {

// The share of a tick's interval its own work may take (the wait for
// answers aside); beyond it the remaining threads wait for later ticks.
constexpr int64_t kBudgetPercent = 50;
// How long running threads have to answer, as a share of the interval.
constexpr int64_t kAnswerPercent = 75;
// Ticks in a row a running thread may fail to answer before its time is
// recorded without a stack (it blocks the CPU signal, or never gets a CPU).
constexpr int kMaxUnanswered = 10;
// Ticks after which the threads are listed again even if nothing suggests
// that they changed.
constexpr int kRelistTicks = 100;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_in_tick{false};
std::atomic<uint64_t> g_skipped{0};

// What the sampler knows about one thread between ticks.
struct ThreadState {
  int64_t cpu_ns = -1;          // its CPU clock when last looked at
  int64_t last_sample_ns = 0;   // CLOCK_MONOTONIC when its time was last recorded
  bool has_sample = false;      // `name`, `stack`, `tag`: where it was then
  char name[16] = {};
  std::vector<uintptr_t> stack;
  int32_t tag = kWallRunning;
  int unanswered = 0;
  bool listed = false;          // in this tick's /proc/self/task
};

// A thread's CPU time so far (its CPU clock, one system call: no file), or
// -1 if it is gone.
int64_t thread_cpu_ns(pid_t tid) {
  // The kernel's clock id of a thread's CPU clock (CPUCLOCK_SCHED of a
  // thread, as pthread_getcpuclockid makes it from the tid).
  const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
  struct timespec ts;
  if (clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// A thread the kernel shows at a user sp and pc: blocked in a system call,
// or off the CPU outside one (a page fault, stopped).
bool shows_place(const ThreadSyscall& call) { return call.readable && call.pc != 0; }

// Unwinds a thread that stands still from its sp and pc (rbp unknown), its
// stack read through the fault-safe path; kept only if it still stands at
// the same place afterwards, else its stack may have changed under the walk.
bool unwind_from_outside(pid_t tid, ThreadSyscall* call, ModuleTables* tables,
                         std::vector<uintptr_t>* stack) {
  uintptr_t pcs[kMaxStackDepth];
  for (int attempt = 0; attempt < 3; attempt++) {
    const int depth = tables->walk_registers(call->pc, call->sp, 0, false, StackBounds{}, pcs,
                                             kMaxStackDepth);
    const ThreadSyscall again = read_thread_syscall(tid);
    if (shows_place(again) && again.number == call->number && again.sp == call->sp &&
        again.pc == call->pc) {
      stack->assign(pcs, pcs + depth);
      return true;
    }
    if (!shows_place(again)) return false;
    *call = again;
  }
  return false;
}

class Ticker {
 public:
  Ticker(int hz, TraceStore* store, ModuleTables* tables)
      : interval_ns_(1000000000LL / hz), store_(store), tables_(tables) {}

  void tick(int64_t now);

 private:
  void record(pid_t tid, ThreadState* state, int64_t now) {
    TraceKey key;
    key.tid = tid;
    memcpy(key.thread_name, state->name, sizeof key.thread_name);
    key.pcs = state->stack.data();
    key.depth = static_cast<int>(state->stack.size());
    key.tag = state->tag;
    store_->add(key, static_cast<uint64_t>(now - state->last_sample_ns));
    state->last_sample_ns = now;
    state->unanswered = 0;
  }

  void set_name(ThreadState* state, const std::string& name) {
    memset(state->name, 0, sizeof state->name);
    memcpy(state->name, name.data(), std::min(name.size(), sizeof state->name - 1));
  }

  void look_at(pid_t tid, ThreadState* state, int64_t now, StackRequests* requests,
               bool* requests_begun, std::vector<pid_t>* asked);
  bool threads_may_have_changed();
  void list();

  const int64_t interval_ns_;
  TraceStore* const store_;
  ModuleTables* const tables_;
  std::unordered_map<pid_t, ThreadState> threads_;
  size_t rotation_ = 0;  // where the next tick starts when one ran out of time
  int64_t previous_tick_ns_ = 0;
  std::vector<pid_t> tids_;  // the program's threads, as last listed
  nlink_t task_links_ = 0;   // /proc/self/task's link count then: 2 + threads
  bool thread_gone_ = true;  // a thread ended since the last listing
  int ticks_since_listing_ = 0;
};

// Listing /proc/self/task costs more than all the idle threads' clocks;
// its link count (one stat) changes with the number of threads, and a
// thread that ended, even if another took its place, is noticed when its
// clock cannot be read.
bool Ticker::threads_may_have_changed() {
  struct stat st;
  const bool counted = stat("/proc/self/task", &st) == 0;
  const bool changed = !counted || st.st_nlink != task_links_ || thread_gone_ ||
                       ++ticks_since_listing_ >= kRelistTicks;
  if (counted) task_links_ = st.st_nlink;
  return changed;
}

void Ticker::list() {
  tids_.clear();
  for (pid_t tid : list_threads())
    if (!is_agent_thread(tid)) tids_.push_back(tid);
  thread_gone_ = false;
  ticks_since_listing_ = 0;
  for (auto& [tid, state] : threads_) state.listed = false;
  for (pid_t tid : tids_) {
    auto [it, created] = threads_.try_emplace(tid);
    it->second.listed = true;
    // A thread new since the last tick: at most that long alive.
    if (created) it->second.last_sample_ns = previous_tick_ns_;
  }
  for (auto it = threads_.begin(); it != threads_.end();)
    it = it->second.listed ? std::next(it) : threads_.erase(it);
}

void Ticker::look_at(pid_t tid, ThreadState* state, int64_t now, StackRequests* requests,
                     bool* requests_begun, std::vector<pid_t>* asked) {
  const int64_t cpu = thread_cpu_ns(tid);
  if (cpu < 0) {  // ended
    thread_gone_ = true;
    return;
  }
  if (state->has_sample && cpu == state->cpu_ns) {
    record(tid, state, now);  // it has not run since: still where it was
    return;
  }
  state->cpu_ns = cpu;
  state->has_sample = false;
  ThreadSyscall call = read_thread_syscall(tid);
  if (!call.readable) return;
  if (!shows_place(call)) {
    // Running in its own code (or on its way into or out of a call). Not
    // signalled if it cannot answer; then, right before the request, a last
    // look that it has not entered a call meanwhile.
    const ThreadStatus status = read_thread_status(tid);
    if (status.exists && !status.stopped && !status.blocked(cpu_signal())) {
      call = read_thread_syscall(tid);
      if (call.readable && !shows_place(call)) {
        if (!*requests_begun) *requests_begun = requests->begin();
        if (*requests_begun && requests->ask(tid)) {
          asked->push_back(tid);
          return;
        }
      }
    }
    if (!shows_place(call)) {
      // No stack this time: its time waits for a later tick, up to a point.
      if (++state->unanswered >= kMaxUnanswered) {
        state->stack.clear();
        state->tag = kWallRunning;
        set_name(state, read_thread_name(tid));
        record(tid, state, now);
      }
      return;
    }
  }
  if (!unwind_from_outside(tid, &call, tables_, &state->stack)) return;  // moved: next tick
  state->tag = call.in_call ? static_cast<int32_t>(call.number) : kWallRunning;
  set_name(state, read_thread_name(tid));
  state->has_sample = true;
  record(tid, state, now);
}

void Ticker::tick(int64_t now) {
  if (previous_tick_ns_ == 0) previous_tick_ns_ = now - interval_ns_;
  if (threads_may_have_changed()) list();
  const std::vector<pid_t>& tids = tids_;

  StackRequests requests;
  bool requests_begun = false;
  std::vector<pid_t> asked;  // running threads, in the order they were asked
  const int64_t budget_end = now + interval_ns_ * kBudgetPercent / 100;
  const size_t n = tids.size();
  const size_t start = n == 0 ? 0 : rotation_ % n;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && clock_ns(CLOCK_MONOTONIC) > budget_end) {
      // Out of time: the rest go first next tick, with their time so far.
      g_skipped.fetch_add(n - i, std::memory_order_relaxed);
      rotation_ = (start + i) % n;
      break;
    }
    const pid_t tid = tids[(start + i) % n];
    auto it = threads_.find(tid);
    if (it != threads_.end()) look_at(tid, &it->second, now, &requests, &requests_begun, &asked);
  }

  if (!asked.empty()) {
    const std::vector<StackRequests::Answer> answers =
        requests.collect(now + interval_ns_ * kAnswerPercent / 100);
    for (size_t i = 0; i < asked.size() && i < answers.size(); i++) {
      auto it = threads_.find(asked[i]);
      if (it == threads_.end()) continue;
      ThreadState& state = it->second;
      if (!answers[i].answered) {
        if (++state.unanswered >= kMaxUnanswered) {
          state.stack.clear();
          state.tag = kWallRunning;
          record(asked[i], &state, now);
        }
        continue;
      }
      memcpy(state.name, answers[i].name, sizeof state.name);
      state.stack = answers[i].stack;
      state.tag = kWallRunning;
      state.has_sample = true;
      record(asked[i], &state, now);
    }
  }
  previous_tick_ns_ = now;
}

}  // namespace

void WallSampler::run(int hz, TraceStore* store, ModuleTables* tables) {
  if (hz <= 0 || store == nullptr || tables == nullptr) return;
  Ticker ticker(hz, store, tables);
  const int64_t interval = 1000000000LL / hz;
  int64_t next = clock_ns(CLOCK_MONOTONIC) + interval;
  while (!g_stop.load(std::memory_order_acquire)) {
    // Absolute deadlines: the schedule does not drift with the work of a tick.
    struct timespec deadline = {static_cast<time_t>(next / 1000000000LL),
                                static_cast<long>(next % 1000000000LL)};
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) != 0) continue;
    g_in_tick.store(true, std::memory_order_release);
    if (!g_stop.load(std::memory_order_acquire)) ticker.tick(clock_ns(CLOCK_MONOTONIC));
    g_in_tick.store(false, std::memory_order_release);
    next += interval;
    // A tick that overran its interval: the next one on the schedule still
    // ahead (the threads' time is counted from their last sample anyway).
    const int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (next <= now) next += ((now - next) / interval + 1) * interval;
  }
}

void WallSampler::stop() {
  g_stop.store(true, std::memory_order_release);
  for (int i = 0; i < 1000 && g_in_tick.load(std::memory_order_acquire); i++) {
    struct timespec step = {0, 100000};
    nanosleep(&step, nullptr);
  }
}

uint64_t WallSampler::skipped_samples() { return g_skipped.load(std::memory_order_relaxed); }

void WallSampler::child_after_fork() {
  g_stop.store(false);
  g_in_tick.store(false);
  g_skipped.store(0);
}

}  // namespace ppagent
