// The wall sampler's ticks (wall_sampler.h). The common case costs one
// system call: a thread whose CPU clock has not moved since its last sample
// has not run, so it is where it was, and its last sample counts again. A
// thread found so several times in a row, or found back in the same wait
// after running little, is looked at only every second, fourth, at most
// eighth tick, on ticks it shares with the others (back_off), its samples
// then weighing the longer time since its last one. Ticks with no thread due
// are not run at all: the sampler sleeps to the next tick with work (a
// thread that starts or ends through pthread_create wakes it for the next
// tick). On the VMs measured a system call costs 1-3 microseconds and a
// wake-up of the sampler's thread tens of them, against the 100
// microseconds a tick that 1 % of a core allows at 100 Hz.
// Only a thread that ran is looked at again: its system call state, then its
// stack from outside (waiting) or from its own signal handler (running).
// One found elsewhere after a gap left its last place at an unknown moment
// of it: its time is split there (see look_at).
#include "record/wall_sampler.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <iterator>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
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
// How long running threads have to answer, as a share of the interval, but
// at least kMinAnswerNs: a request's timer fires at the kernel's next tick
// while the thread runs (every 4 ms at CONFIG_HZ=250).
constexpr int64_t kAnswerPercent = 75;
constexpr int64_t kMinAnswerNs = 5000000;
// Ticks after which the threads are listed again even if nothing suggests
// that they changed.
constexpr int kRelistTicks = 100;
// How much of a waiting thread's stack, from its sp up, is copied for its
// walk in one system call; deeper frames are read word by word.
constexpr size_t kStackCopyBytes = 8 * 1024;
// The most ticks between two looks at a thread that has not run, or that
// ran little and was found back where it was.
constexpr int kMaxLookGap = 8;
// A thread found back in the same wait after running for at most this
// share (1/N) of the time since its last look is looked at less often, as
// one that did not run.
constexpr int64_t kMostlyWaiting = 8;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_in_tick{false};
std::atomic<uint64_t> g_skipped{0};
// Threads started and ended through pthread_create: the sampler lists the
// threads again when this moved. It is also the futex word the sampler
// sleeps on when no thread is due for several ticks, so that a thread that
// starts or ends meanwhile is seen on the next tick, not the next due one.
std::atomic<uint32_t> g_thread_changes{0};
// The sampler sleeps past its next tick on g_thread_changes: a change must
// wake it.
std::atomic<bool> g_sleeping_long{false};

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a futex word");

uint32_t* futex_word() { return reinterpret_cast<uint32_t*>(&g_thread_changes); }

// Async-signal-safe (a system call only).
void wake_sampler() {
  if (g_sleeping_long.load(std::memory_order_seq_cst))
    syscall(SYS_futex, futex_word(), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// What the sampler knows about one thread between ticks.
struct ThreadState {
  int64_t cpu_ns = -1;          // its CPU clock when last looked at
  int64_t last_sample_ns = 0;   // CLOCK_MONOTONIC when its time was last recorded
  bool has_sample = false;      // `name`, `stack`, `tag`: where it was then
  char name[16] = {};
  std::vector<uintptr_t> stack;
  int32_t tag = kWallRunning;
  // Its stack when it last answered a request: where a running thread that
  // does not answer in time (its bursts shorter than the kernel's tick) is
  // counted, rather than its time given to its next state.
  std::vector<uintptr_t> running_stack;
  int look_gap = 1;             // ticks between looks: 1, 2, ... kMaxLookGap
  int64_t next_look_tick = 0;   // phase, modulo look_gap: threads due on one tick
  // Its ticks' place in a cycle of kMaxLookGap: 0, unless a tick over
  // budget left it for a later one, which keeps the threads it looked at
  // and those it left apart from then on.
  int phase = 0;
  // Where the store keeps the trace of `name`, `stack` and `tag` as they
  // are (kNoSlot: not known), so that a sample in the same place again adds
  // to it without hashing the stack.
  size_t slot = TraceStore::kNoSlot;
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

// The thread's stack from `sp` up, as far as it is mapped (at most the
// buffer), copied with the fault-safe read: the bounds its walk reads from.
StackBounds copy_stack(pid_t pid, uintptr_t sp, std::vector<unsigned char>* buffer) {
  StackBounds bounds;
  struct iovec local = {buffer->data(), buffer->size()};
  struct iovec remote = {reinterpret_cast<void*>(sp), buffer->size()};
  const long copied = syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
  if (copied > 0) {
    bounds.low = sp;
    bounds.high = sp + static_cast<uintptr_t>(copied);
    bounds.copy = buffer->data();
  }
  return bounds;
}

// Unwinds a thread that stands still from its sp and pc (rbp unknown), from
// a copy of its stack. `cpu_ns` is its CPU clock from before `call` was
// read: if the clock has not moved after the copy, the thread has not run
// in between, so `call` and the copy show one moment. Otherwise (it moved)
// false.
bool unwind_from_outside(pid_t pid, pid_t tid, int64_t cpu_ns, const ThreadSyscall& call,
                         ModuleTables* tables, std::vector<unsigned char>* buffer,
                         std::vector<uintptr_t>* stack) {
  const StackBounds copy = copy_stack(pid, call.sp, buffer);
  if (thread_cpu_ns(tid) != cpu_ns) return false;
  uintptr_t pcs[kMaxStackDepth];
  const int depth = tables->walk_registers(call.pc, call.sp, 0, false, copy, pcs, kMaxStackDepth);
  stack->assign(pcs, pcs + depth);
  return true;
}

class Ticker {
 public:
  Ticker(int hz, TraceStore* store, ModuleTables* tables)
      : interval_ns_(1000000000LL / hz), store_(store), tables_(tables),
        pid_(getpid()), stack_copy_(kStackCopyBytes) {}

  // Tick number `tick` (ticks are numbered on the schedule, from 1) at
  // `now`; ticks whose threads were all not due are never run.
  void tick(int64_t now, int64_t tick);
  // The next tick with work: a thread due, a listing due, or (after one ran
  // out of time or lost a thread) the next.
  int64_t next_due_tick() const { return next_due_tick_; }
  // Whether the threads were listed after the last start or end (`changes`,
  // g_thread_changes) through pthread_create.
  bool saw_changes(uint32_t changes) const { return changes == thread_changes_; }

 private:
  // Every change of a thread's name, stack or tag goes through
  // moved_place() before its next record().
  void record(pid_t tid, ThreadState* state, int64_t now) {
    if (now <= state->last_sample_ns) return;
    const uint64_t weight = static_cast<uint64_t>(now - state->last_sample_ns);
    state->last_sample_ns = now;
    if (state->slot != TraceStore::kNoSlot) {
      store_->add_to_slot(state->slot, weight);
      return;
    }
    TraceKey key;
    key.tid = tid;
    memcpy(key.thread_name, state->name, sizeof key.thread_name);
    key.pcs = state->stack.data();
    key.depth = static_cast<int>(state->stack.size());
    key.tag = state->tag;
    store_->add(key, weight, 1, &state->slot);
  }

  static void moved_place(ThreadState* state) { state->slot = TraceStore::kNoSlot; }

  // A thread found running that gave no stack this tick: running all the
  // same, at its last answer's stack or, never answered, under one pseudo
  // frame (wall_profile.cc). Looked at again next tick.
  void record_running_without_answer(pid_t tid, ThreadState* state, int64_t now) {
    moved_place(state);
    state->stack = state->running_stack;
    state->tag = kWallRunning;
    if (state->name[0] == '\0') set_name(state, read_thread_name(tid));
    state->has_sample = false;
    record(tid, state, now);
  }

  void set_name(ThreadState* state, const std::string& name) {
    moved_place(state);
    memset(state->name, 0, sizeof state->name);
    memcpy(state->name, name.data(), std::min(name.size(), sizeof state->name - 1));
  }

  // Not looked at again for longer (a power of two up to kMaxLookGap), on
  // a tick of its phase modulo its gap: the idle threads share their ticks,
  // and the ticks between them need not run at all. `overdue`: it was due
  // on an earlier tick (one over budget left it), so it takes this tick's
  // phase.
  void back_off(ThreadState* state, int gap, bool overdue) {
    if (overdue) state->phase = static_cast<int>(tick_count_ % kMaxLookGap);
    state->look_gap = std::min(gap * 2, kMaxLookGap);
    const int64_t after = tick_count_ + 1;
    state->next_look_tick = after + ((state->phase - after) % state->look_gap + state->look_gap) %
                                        state->look_gap;
  }

  // True if the look cost more than the thread's clock.
  bool look_at(pid_t tid, ThreadState* state, int64_t now, StackRequests* requests,
               bool* requests_begun, std::vector<pid_t>* asked);
  bool threads_may_have_changed();
  void list(int64_t now);

  const int64_t interval_ns_;
  TraceStore* const store_;
  ModuleTables* const tables_;
  const pid_t pid_;  // the process the sampler's thread (and this) belongs to
  std::unordered_map<pid_t, ThreadState> threads_;
  std::vector<unsigned char> stack_copy_;
  size_t rotation_ = 0;  // where the next tick starts when one ran out of time
  int64_t previous_tick_ns_ = 0;
  std::vector<pid_t> tids_;  // the program's threads, as last listed
  uint32_t thread_changes_ = 0;  // g_thread_changes when last listed
  bool thread_gone_ = true;     // a thread ended since the last listing
  int64_t listed_tick_ = 0;
  int64_t tick_count_ = 0;      // this (or the last) tick's number
  int64_t next_due_tick_ = 1;
};

// Listing /proc/self/task costs more than all the idle threads' clocks: it
// is listed again when threads started or ended through pthread_create, a
// thread's clock could not be read (it ended), and every kRelistTicks ticks
// for threads made otherwise (clone, or before the agent).
bool Ticker::threads_may_have_changed() {
  const uint32_t changes = g_thread_changes.load(std::memory_order_acquire);
  const bool changed = changes != thread_changes_ || thread_gone_ ||
                       tick_count_ - listed_tick_ >= kRelistTicks;
  thread_changes_ = changes;
  return changed;
}

void Ticker::list(int64_t now) {
  tids_.clear();
  for (pid_t tid : list_threads())
    if (!is_agent_thread(tid)) tids_.push_back(tid);
  thread_gone_ = false;
  listed_tick_ = tick_count_;
  // Started or ended since the last tick that ran, but no earlier than one
  // interval ago if that tick was longer ago: a start or end through
  // pthread_create wakes a sampler that sleeps past its next tick.
  const int64_t since = std::max(previous_tick_ns_, now - interval_ns_);
  for (auto& [tid, state] : threads_) state.listed = false;
  for (pid_t tid : tids_) {
    auto [it, created] = threads_.try_emplace(tid);
    it->second.listed = true;
    // A thread new since the last tick: at most that long alive.
    if (created) it->second.last_sample_ns = since;
  }
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->second.listed) {
      ++it;
      continue;
    }
    // Ended since its last look, at an unknown moment: in the last place it
    // was seen until half-way between the tick before this one (or an
    // interval ago) and this one (a thread's end through pthread is noticed
    // on the next tick),
    // rather than its time since its last look (up to kMaxLookGap ticks) lost.
    if (it->second.has_sample) record(it->first, &it->second, (since + now) / 2);
    it = threads_.erase(it);
  }
}

bool Ticker::look_at(pid_t tid, ThreadState* state, int64_t now, StackRequests* requests,
                     bool* requests_begun, std::vector<pid_t>* asked) {
  const bool overdue = state->next_look_tick < tick_count_;
  const int64_t cpu = thread_cpu_ns(tid);
  if (cpu < 0) {  // ended
    thread_gone_ = true;
    return false;
  }
  if (state->has_sample && cpu == state->cpu_ns) {
    record(tid, state, now);  // it has not run since: still where it was
    back_off(state, state->look_gap, overdue);
    return false;
  }
  const bool had_sample = state->has_sample;
  const int previous_gap = state->look_gap;
  const int64_t ran_ns = had_sample ? cpu - state->cpu_ns : 0;
  const int64_t since_sample_ns = now - state->last_sample_ns;
  // Looked at after more than a tick, it left its last place at an unknown
  // moment since, but no later than its CPU time since allows.
  const bool after_gap = had_sample && since_sample_ns > interval_ns_ * 3 / 2;
  const int64_t left_by = std::max(state->last_sample_ns, now - ran_ns);
  state->look_gap = 1;
  state->next_look_tick = tick_count_ + 1;
  state->cpu_ns = cpu;
  state->has_sample = false;
  ThreadSyscall call = read_thread_syscall(tid);
  if (!call.readable) return true;
  if (!shows_place(call)) {
    // Running now: since it started running at the latest (its CPU time
    // since its last look), rather than since that look.
    if (after_gap) record(tid, state, left_by);
    // Running (in its own code, or on its way into or out of a call): asked
    // for its stack through a timer on its CPU clock (StackRequests), which
    // never cuts a call short; not if it cannot answer (stopped, or it
    // blocks the CPU signal).
    const ThreadStatus status = read_thread_status(tid);
    if (status.exists && !status.stopped && !status.blocked(cpu_signal())) {
      if (!*requests_begun) *requests_begun = requests->begin();
      if (*requests_begun && requests->ask(tid)) {
        asked->push_back(tid);
        return true;
      }
    }
    record_running_without_answer(tid, state, now);
    return true;
  }
  std::vector<uintptr_t> stack;
  if (!unwind_from_outside(pid_, tid, cpu, call, tables_, &stack_copy_, &stack)) return true;  // moved: next tick
  const int32_t tag = call.in_call ? static_cast<int32_t>(call.number) : kWallRunning;
  if (had_sample && stack == state->stack && tag == state->tag) {
    // Back in the same wait (a thread that wakes briefly, again and again):
    // if it ran little, looked at less often, as one that did not run.
    state->has_sample = true;
    record(tid, state, now);
    if (ran_ns * kMostlyWaiting <= since_sample_ns) back_off(state, previous_gap, overdue);
    return true;
  }
  // In another wait: it left the last one half-way between its last look
  // and the latest moment its CPU time allows.
  if (after_gap) record(tid, state, (state->last_sample_ns + left_by) / 2);
  // Back where it was (a thread that woke and waits again): its name is
  // kept, one file read less; threads rarely rename themselves.
  if (stack != state->stack || tag != state->tag || state->name[0] == '\0')
    set_name(state, read_thread_name(tid));
  moved_place(state);
  state->stack.swap(stack);
  state->tag = tag;
  state->has_sample = true;
  record(tid, state, now);
  return true;
}

void Ticker::tick(int64_t now, int64_t tick) {
  tick_count_ = tick;
  if (previous_tick_ns_ == 0) previous_tick_ns_ = now - interval_ns_;
  if (threads_may_have_changed()) list(now);
  int64_t next_due = listed_tick_ + kRelistTicks;
  const std::vector<pid_t>& tids = tids_;

  StackRequests requests;
  bool requests_begun = false;
  std::vector<pid_t> asked;  // running threads, in the order they were asked
  const int64_t budget_end = now + interval_ns_ * kBudgetPercent / 100;
  const size_t n = tids.size();
  const size_t start = n == 0 ? 0 : rotation_ % n;
  // The clock is read after every 16 threads that cost a look (those that
  // ran) or 256 that did not: on some VMs reading it is a system call.
  int work = 0;
  for (size_t i = 0; i < n; i++) {
    if (work >= 256 && (work = 0, clock_ns(CLOCK_MONOTONIC) > budget_end)) {
      // Out of time: the rest go first next tick, with their time so far.
      uint64_t skipped = 0;
      for (size_t j = i; j < n; j++) {
        auto it = threads_.find(tids[(start + j) % n]);
        if (it != threads_.end() && it->second.next_look_tick <= tick_count_) skipped++;
      }
      g_skipped.fetch_add(skipped, std::memory_order_relaxed);
      rotation_ = (start + i) % n;
      next_due = tick_count_ + 1;
      break;
    }
    const pid_t tid = tids[(start + i) % n];
    auto it = threads_.find(tid);
    if (it == threads_.end()) continue;
    // 16 for a thread that ran (a look from outside or a request), 1 for a
    // clock alone.
    if (it->second.next_look_tick <= tick_count_)
      work += look_at(tid, &it->second, now, &requests, &requests_begun, &asked) ? 16 : 1;
    next_due = std::min(next_due, it->second.next_look_tick);
  }
  if (thread_gone_) next_due = tick_count_ + 1;
  next_due_tick_ = std::max(next_due, tick_count_ + 1);

  if (!asked.empty()) {
    // From the precise clock: `now` may lag it by the coarse clock's step.
    const std::vector<StackRequests::Answer> answers = requests.collect(
        clock_ns(CLOCK_MONOTONIC) + std::max(interval_ns_ * kAnswerPercent / 100, kMinAnswerNs));
    for (size_t i = 0; i < asked.size() && i < answers.size(); i++) {
      auto it = threads_.find(asked[i]);
      if (it == threads_.end()) continue;
      ThreadState& state = it->second;
      if (!answers[i].answered) {
        record_running_without_answer(asked[i], &state, now);
        continue;
      }
      moved_place(&state);
      memcpy(state.name, answers[i].name, sizeof state.name);
      state.stack = answers[i].stack;
      state.running_stack = answers[i].stack;
      state.tag = kWallRunning;
      state.has_sample = true;
      record(asked[i], &state, now);
    }
  }
  previous_tick_ns_ = now;
}

// Sleeps until `deadline` (CLOCK_MONOTONIC); a long sleep also ends when
// g_thread_changes moves from `changes`. True if the deadline was reached.
bool sleep_until(int64_t deadline, bool long_sleep, uint32_t changes) {
  struct timespec until = {static_cast<time_t>(deadline / 1000000000LL),
                           static_cast<long>(deadline % 1000000000LL)};
  if (!long_sleep) return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == 0;
  g_sleeping_long.store(true, std::memory_order_seq_cst);
  // FUTEX_WAIT_BITSET's timeout is absolute, on CLOCK_MONOTONIC.
  const long rc = syscall(SYS_futex, futex_word(), FUTEX_WAIT_BITSET_PRIVATE, changes, &until,
                          nullptr, FUTEX_BITSET_MATCH_ANY);
  const bool reached = rc != 0 && errno == ETIMEDOUT;
  g_sleeping_long.store(false, std::memory_order_relaxed);
  return reached;
}

}  // namespace

void WallSampler::run(int hz, TraceStore* store, ModuleTables* tables) {
  if (hz <= 0 || store == nullptr || tables == nullptr) return;
  Ticker ticker(hz, store, tables);
  const int64_t interval = 1000000000LL / hz;
  // Tick n is due at start + n * interval: absolute deadlines, so the
  // schedule does not drift with the work of a tick.
  const int64_t start = clock_ns(CLOCK_MONOTONIC);
  int64_t now = start;
  while (!g_stop.load(std::memory_order_acquire)) {
    const uint32_t changes = g_thread_changes.load(std::memory_order_seq_cst);
    // The next tick with work, but never one already past: woken late (a
    // long tick, a busy machine), the next tick on the schedule still
    // ahead (the threads' time is counted from their last sample anyway).
    const int64_t next = (now - start) / interval + 1;
    const int64_t due =
        ticker.saw_changes(changes) ? std::max(ticker.next_due_tick(), next) : next;
    const int64_t deadline = start + due * interval;
    if (!sleep_until(deadline, due > next, changes)) {
      // Woken early: a thread started or ended, or stop().
      now = clock_ns(CLOCK_MONOTONIC);
      if (now < deadline) continue;
    } else {
      // On time, or late by at least the coarse clock's lag: its reading
      // costs no system call where the precise clock's does (some VMs).
      now = std::max(deadline, clock_ns(CLOCK_MONOTONIC_COARSE));
    }
    g_in_tick.store(true, std::memory_order_release);
    if (!g_stop.load(std::memory_order_acquire))
      ticker.tick(now, std::max(due, (now - start) / interval));
    g_in_tick.store(false, std::memory_order_release);
  }
}

void WallSampler::stop() {
  g_stop.store(true, std::memory_order_seq_cst);
  wake_sampler();
  for (int i = 0; i < 1000 && g_in_tick.load(std::memory_order_acquire); i++) {
    struct timespec step = {0, 100000};
    nanosleep(&step, nullptr);
  }
}

void WallSampler::thread_started() {
  g_thread_changes.fetch_add(1, std::memory_order_seq_cst);
  wake_sampler();
}

void WallSampler::thread_ending() {
  g_thread_changes.fetch_add(1, std::memory_order_seq_cst);
  wake_sampler();
}

uint64_t WallSampler::skipped_samples() { return g_skipped.load(std::memory_order_relaxed); }

void WallSampler::child_after_fork() {
  g_stop.store(false);
  g_in_tick.store(false);
  g_skipped.store(0);
  g_thread_changes.store(0);
  g_sleeping_long.store(false);
}

}  // namespace ppagent
