// The threads profile's capture: each thread of the program unwinds itself in
// the CPU signal's handler when asked; a thread blocked in a call that any
// signal would cut short (sleep, poll, ...) is not asked but unwound from
// outside, from the sp and pc the kernel shows for it. A thread blocked in
// another call is asked by the signal queued to it (its call goes on after the
// handler). A thread seen running is asked by a one-shot timer on its own CPU
// clock instead: it may enter a sleep before a queued signal reaches it, and
// the sleep would return EINTR (a program's sleeper did, during a dump),
// whereas the timer's signal comes only on the thread's way back to its own
// code; if it blocks first, it is seen blocked while the capture waits, and
// unwound from outside or sent the queued signal then.
#include "record/thread_stacks.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "base/agent_threads.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/thread_proc.h"
#include "unwind/stack_walker.h"

namespace ppagent {

namespace {

// A request is the CPU signal, queued (SI_QUEUE) or from a request timer
// (SI_TIMER), whose value packs this cookie
// (16 bits), the answer slot (16 bits) and the capture's generation (32 bits).
constexpr uint64_t kRequestCookie = 0x7470;
constexpr int kSlots = 2048;  // threads asked at once; more go in further rounds

enum Phase : uint64_t { kIdle = 0, kRequested = 1, kWriting = 2, kDone = 3 };

// One thread's answer. The state word is generation << 2 | phase: a handler
// writes only into a slot still requested by its own generation, so an answer
// that comes after its capture gave up (or to an older one) is dropped.
struct Slot {
  std::atomic<uint64_t> state;
  int depth;
  char name[16];  // the thread's name as it answered
  uintptr_t pcs[kMaxStackDepth];
};

uint64_t state_word(uint32_t generation, Phase phase) {
  return (static_cast<uint64_t>(generation) << 2) | phase;
}
Phase phase_of(uint64_t word) { return static_cast<Phase>(word & 3); }

// Mapped once and never unmapped: a late handler may still look at it.
std::atomic<Slot*> g_slots{nullptr};
std::atomic<ModuleTables*> g_tables{nullptr};
// Set before g_tables, read after it.
bool (*g_install_handler)(ModuleTables*) = nullptr;
int (*g_cpu_signal)() = nullptr;
pid_t g_pid = 0;  // the process the requests come from (set per capture)

pthread_mutex_t g_capture_mutex = PTHREAD_MUTEX_INITIALIZER;
uint32_t g_generation = 0;
bool g_slots_failed_logged = false, g_foreign_handler_logged = false;

Slot* slots() {
  Slot* s = g_slots.load(std::memory_order_acquire);
  if (s != nullptr) return s;
  void* memory = mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    if (!g_slots_failed_logged)
      log_line("cannot map memory for thread stacks (%s); threads profiles show only threads "
               "blocked in system calls", strerror(errno));
    g_slots_failed_logged = true;
    return nullptr;
  }
  s = static_cast<Slot*>(memory);  // zero-filled: every slot idle
  g_slots.store(s, std::memory_order_release);
  return s;
}

bool send_request(pid_t tid, int slot, uint32_t generation) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = g_cpu_signal();
  info.si_code = SI_QUEUE;
  info.si_pid = g_pid;
  info.si_uid = getuid();
  const uint64_t value = (kRequestCookie << 48) | (static_cast<uint64_t>(slot) << 32) | generation;
  info.si_value.sival_ptr = reinterpret_cast<void*>(value);
  return syscall(SYS_rt_tgsigqueueinfo, g_pid, tid, info.si_signo, &info) == 0;
}

// Waits until every slot of `asked` is answered or `deadline_ns` passed, in
// steps of `step_ns`.
void wait_for_answers(const std::vector<int>& asked, uint32_t generation, Slot* slot_array,
                      int64_t deadline_ns, long step_ns) {
  auto all_done = [&] {
    for (int index : asked)
      if (index >= 0 && slot_array[index].state.load(std::memory_order_acquire) !=
                            state_word(generation, kDone))
        return false;
    return true;
  };
  while (!all_done() && clock_ns(CLOCK_MONOTONIC) < deadline_ns) {
    struct timespec step = {0, step_ns};
    nanosleep(&step, nullptr);
  }
}

// A request as a one-shot timer on `tid`'s CPU clock (StackRequests): the
// CPU signal with SI_TIMER and the request's value, after 1 ns of the
// thread's CPU time. Returns the kernel timer id, or -1.
int arm_request_timer(pid_t tid, int slot, uint32_t generation) {
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = g_cpu_signal();
  const uint64_t value = (kRequestCookie << 48) | (static_cast<uint64_t>(slot) << 32) | generation;
  event.sigev_value.sival_ptr = reinterpret_cast<void*>(value);
  event._sigev_un._tid = tid;
  // The thread's CPU clock (as pthread_getcpuclockid encodes it).
  const clockid_t clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
  int timer_id = -1;
  if (syscall(SYS_timer_create, clock, &event, &timer_id) != 0) return -1;
  struct itimerspec once = {{0, 0}, {0, 1}};
  if (syscall(SYS_timer_settime, timer_id, 0, &once, nullptr) != 0) {
    syscall(SYS_timer_delete, timer_id);
    return -1;
  }
  return timer_id;
}

// The next slot from *next_slot on that no late handler is still writing,
// marked requested for `generation`; -1 if none is left.
int take_slot(Slot* slot_array, int* next_slot, uint32_t generation) {
  while (*next_slot < kSlots &&
         phase_of(slot_array[*next_slot].state.load(std::memory_order_acquire)) == kWriting)
    (*next_slot)++;
  if (*next_slot >= kSlots) return -1;
  Slot& slot = slot_array[*next_slot];
  slot.depth = 0;
  slot.state.store(state_word(generation, kRequested), std::memory_order_release);
  return (*next_slot)++;
}

enum class Outside { kUnwound, kSignalInstead, kGaveUp };

// Unwinds a thread blocked in `call` from its sp and pc (rbp unknown), reading
// its stack through the fault-safe path; keeps the result only if the thread
// is still blocked at the same place afterwards (else its stack may have
// changed under the walk).
Outside unwind_from_outside(pid_t tid, ThreadSyscall call, ModuleTables* tables,
                            std::vector<uintptr_t>* stack) {
  uintptr_t pcs[kMaxStackDepth];
  for (int attempt = 0; attempt < 3; attempt++) {
    int depth = tables->walk_registers(call.pc, call.sp, 0, false, StackBounds{}, pcs,
                                       kMaxStackDepth);
    ThreadSyscall again = read_thread_syscall(tid);
    if (again.same_place(call)) {
      stack->assign(pcs, pcs + depth);
      return Outside::kUnwound;
    }
    if (!(again.in_call && interrupted_by_any_signal(again.number)))
      return Outside::kSignalInstead;
    call = again;
  }
  return Outside::kGaveUp;  // never still: better unanswered than a wrong stack or an EINTR
}

// A thread's part in one round of a capture.
struct Request {
  size_t sample;        // index into the result
  int slot = -1;        // -1: not asked (answered from outside, or not at all)
  int timer = -1;       // the request's timer, while it may fire
  bool queued = false;  // the signal was queued to the thread
  bool outside = false; // unwound from outside after it was asked
};

// Takes back a request that was not answered. False if its answer is still
// being written (the slot then stays out of use until the handler finishes).
bool withdraw(Slot& slot, uint32_t generation) {
  uint64_t expected = state_word(generation, kRequested);
  if (slot.state.compare_exchange_strong(expected, state_word(generation, kIdle),
                                         std::memory_order_acq_rel))
    return true;
  // A handler is writing: that takes microseconds unless the thread was
  // stopped right then.
  for (int i = 0; i < 20000 && phase_of(slot.state.load(std::memory_order_acquire)) == kWriting; i++)
    sched_yield();
  return phase_of(slot.state.load(std::memory_order_acquire)) != kWriting;
}

// What a capture does with a thread it finds.
enum class Ask { kNot, kByQueuedSignal, kByTimer };

// How `tid` is to be asked; if it is blocked in a call that a signal would cut
// short, unwinds it from outside instead (*answered then, or kNot if that
// failed).
Ask how_to_ask(pid_t tid, ModuleTables* tables, ThreadSample* sample, bool* answered) {
  *answered = false;
  // The capturing thread itself (not the agent's, which is left out): a
  // signal it queues to itself is handled as the call that queued it returns.
  if (tid == static_cast<pid_t>(syscall(SYS_gettid))) return Ask::kByQueuedSignal;
  ThreadSyscall call = read_thread_syscall(tid);
  if (call.in_call && interrupted_by_any_signal(call.number)) {
    Outside outcome = unwind_from_outside(tid, call, tables, &sample->stack);
    if (outcome == Outside::kUnwound) *answered = true;
    if (outcome != Outside::kSignalInstead) return Ask::kNot;
    call = read_thread_syscall(tid);
  }
  // A stopped thread or one blocking the CPU signal cannot answer, and a
  // signal left pending would reach it later, perhaps in a sleep.
  ThreadStatus status = read_thread_status(tid);
  if (!status.exists || status.stopped || status.blocked(g_cpu_signal())) return Ask::kNot;
  // Queued only to a thread asleep in a call that goes on after a handler: a
  // runnable one (preempted in a quick call such as clock_gettime) would be
  // in its next call, perhaps a sleep, by the time the signal reached it, and
  // one back in a call a signal cuts short left the first and entered this.
  return call.in_call && !interrupted_by_any_signal(call.number) && status.waiting
             ? Ask::kByQueuedSignal
             : Ask::kByTimer;
}

// A thread asked by its timer that has not answered yet: if it is blocked now
// (its timer fires only while it runs), unwinds it from outside or queues the
// signal, as how_to_ask would have. Returns whether it still has to answer.
bool recheck_blocked(Request* r, pid_t tid, uint32_t generation, ModuleTables* tables,
                     std::vector<uintptr_t>* stack) {
  ThreadSyscall call = read_thread_syscall(tid);
  if (!call.in_call) return true;
  if (interrupted_by_any_signal(call.number)) {
    if (unwind_from_outside(tid, call, tables, stack) != Outside::kUnwound) return true;
    r->outside = true;
    return false;
  }
  // Asleep in a call that goes on after a handler (how_to_ask): the same slot;
  // whichever signal comes first answers, the other is dropped.
  if (read_thread_status(tid).waiting) r->queued = send_request(tid, r->slot, generation);
  return true;
}

void capture_round(const std::vector<pid_t>& tids, int64_t deadline_ns,
                   bool can_signal, Slot* slot_array, ModuleTables* tables,
                   std::vector<ThreadSample>* result) {
  const uint32_t generation = ++g_generation;
  std::vector<Request> requests;
  int next_slot = 0;
  for (pid_t tid : tids) {
    ThreadSample sample;
    sample.tid = tid;
    sample.name = read_thread_name(tid);
    if (sample.name.empty() && !read_thread_status(tid).exists) continue;  // gone
    Request request{result->size()};
    bool answered = false;
    const Ask ask = how_to_ask(tid, tables, &sample, &answered);
    if (ask != Ask::kNot && can_signal) {
      request.slot = take_slot(slot_array, &next_slot, generation);
      bool sent = false;
      if (request.slot >= 0 && ask == Ask::kByQueuedSignal) {
        sent = request.queued = send_request(tid, request.slot, generation);
      } else if (request.slot >= 0) {
        request.timer = arm_request_timer(tid, request.slot, generation);
        sent = request.timer >= 0;
      }
      if (request.slot >= 0 && !sent) {
        slot_array[request.slot].state.store(state_word(generation, kIdle), std::memory_order_release);
        next_slot = request.slot;  // free for the next request
        request.slot = -1;
        if (!read_thread_status(tid).exists) continue;  // exited meanwhile
      }
    }
    sample.answered = answered;
    result->push_back(std::move(sample));
    requests.push_back(request);
  }

  // Wait for the answers, in 1 ms steps, up to the deadline.
  std::vector<std::vector<uintptr_t>> outside_stacks(requests.size());
  for (;;) {
    bool waiting = false;
    for (size_t i = 0; i < requests.size(); i++) {
      Request& r = requests[i];
      if (r.slot < 0 || r.outside ||
          slot_array[r.slot].state.load(std::memory_order_acquire) == state_word(generation, kDone))
        continue;
      if (r.timer >= 0 && !r.queued &&
          !recheck_blocked(&r, (*result)[r.sample].tid, generation, tables, &outside_stacks[i]))
        continue;
      waiting = true;
    }
    if (!waiting || clock_ns(CLOCK_MONOTONIC) >= deadline_ns) break;
    struct timespec step = {0, 1000000};
    nanosleep(&step, nullptr);
  }
  // A timer not yet due never fires now; a signal it already sent arrives
  // with a request that is withdrawn below, and is dropped.
  for (const Request& r : requests)
    if (r.timer >= 0) syscall(SYS_timer_delete, r.timer);

  std::vector<size_t> gone;
  for (const Request& r : requests) {
    if (r.slot < 0) continue;
    Slot& slot = slot_array[r.slot];
    ThreadSample& sample = (*result)[r.sample];
    if (withdraw(slot, generation) &&
        slot.state.load(std::memory_order_acquire) == state_word(generation, kDone)) {
      sample.stack.assign(slot.pcs, slot.pcs + slot.depth);
      sample.answered = true;
    } else if (r.outside) {
      sample.stack = std::move(outside_stacks[&r - requests.data()]);
      sample.answered = true;
    } else if (!read_thread_status(sample.tid).exists) {
      gone.push_back(r.sample);  // ended before it could answer: not a thread any more
    }
  }
  for (auto it = gone.rbegin(); it != gone.rend(); ++it) result->erase(result->begin() + *it);
}

}  // namespace

void init_thread_stacks(ModuleTables* tables, bool (*install_handler)(ModuleTables*),
                        int (*cpu_signal)()) {
  g_install_handler = install_handler;
  g_cpu_signal = cpu_signal;
  g_tables.store(tables);
}

bool answer_thread_stack_request(const siginfo_t* info, void* context, ModuleTables* tables) {
  // Queued by a capture, or a request's timer (only this process can make
  // a timer on its threads' clocks).
  if (info->si_code != SI_QUEUE && info->si_code != SI_TIMER) return false;
  const uint64_t value = reinterpret_cast<uintptr_t>(info->si_value.sival_ptr);
  if ((value >> 48) != kRequestCookie) return false;
  if (info->si_code == SI_QUEUE && info->si_pid != g_pid) return true;  // not from this process
  const uint32_t index = static_cast<uint32_t>(value >> 32) & 0xffff;
  const uint32_t generation = static_cast<uint32_t>(value);
  Slot* slot_array = g_slots.load(std::memory_order_acquire);
  if (slot_array == nullptr || index >= kSlots || tables == nullptr) return true;
  Slot& slot = slot_array[index];
  uint64_t expected = state_word(generation, kRequested);
  if (!slot.state.compare_exchange_strong(expected, state_word(generation, kWriting),
                                          std::memory_order_acq_rel))
    return true;  // an answer nobody waits for any more
  slot.depth = tables->walk(static_cast<const ucontext_t*>(context), current_thread_stack(),
                            slot.pcs, kMaxStackDepth);
  slot.name[0] = '\0';
  prctl(PR_GET_NAME, slot.name, 0, 0, 0);  // a system call: async-signal-safe
  slot.state.store(state_word(generation, kDone), std::memory_order_release);
  return true;
}

std::vector<ThreadSample> capture_thread_stacks(int deadline_ms) {
  AgentScope scope;
  const int64_t deadline_ns =
      clock_ns(CLOCK_MONOTONIC) + static_cast<int64_t>(deadline_ms) * 1000000;
  std::vector<ThreadSample> result;
  pthread_mutex_lock(&g_capture_mutex);
  g_pid = getpid();
  ModuleTables* tables = g_tables.load();
  std::vector<pid_t> tids;
  for (pid_t tid : list_threads())
    if (!is_agent_thread(tid)) tids.push_back(tid);

  if (tables == nullptr) {
    for (pid_t tid : tids) {
      ThreadSample sample;
      sample.tid = tid;
      sample.name = read_thread_name(tid);
      sample.answered = false;
      result.push_back(std::move(sample));
    }
    pthread_mutex_unlock(&g_capture_mutex);
    return result;
  }
  tables->refresh();  // code loaded since the last refresh is unwound through too
  Slot* slot_array = slots();
  bool can_signal = slot_array != nullptr && g_install_handler(tables);
  if (slot_array != nullptr && !can_signal && !g_foreign_handler_logged) {
    g_foreign_handler_logged = true;
    log_line("%s, the agent's CPU signal, has a handler or disposition of the program's; "
             "threads profiles show only threads blocked in system calls",
             signal_name(g_cpu_signal()).c_str());
  }
  for (size_t begin = 0; begin < tids.size(); begin += kSlots) {
    std::vector<pid_t> round(tids.begin() + begin,
                             tids.begin() + std::min(tids.size(), begin + kSlots));
    capture_round(round, deadline_ns, can_signal, slot_array, tables, &result);
  }
  pthread_mutex_unlock(&g_capture_mutex);
  return result;
}

bool StackRequests::begin() {
  if (begun_ || pthread_mutex_trylock(&g_capture_mutex) != 0) return false;
  ModuleTables* tables = g_tables.load();
  Slot* slot_array = tables != nullptr ? slots() : nullptr;
  if (slot_array == nullptr || !g_install_handler(tables)) {
    pthread_mutex_unlock(&g_capture_mutex);
    return false;
  }
  g_pid = getpid();
  generation_ = ++g_generation;
  next_slot_ = 0;
  slots_.clear();
  begun_ = true;
  return true;
}

bool StackRequests::ask(pid_t tid) {
  if (!begun_) return false;
  Slot* slot_array = g_slots.load(std::memory_order_acquire);
  const int slot = take_slot(slot_array, &next_slot_, generation_);
  if (slot < 0) return false;
  const int timer = arm_request_timer(tid, slot, generation_);
  if (timer < 0) {
    slot_array[slot].state.store(state_word(generation_, kIdle), std::memory_order_release);
    next_slot_ = slot;  // free for the next request
    return false;
  }
  timers_.push_back(timer);
  slots_.push_back(slot);
  return true;
}

std::vector<StackRequests::Answer> StackRequests::collect(int64_t deadline_ns) {
  std::vector<Answer> answers;
  if (!begun_) return answers;
  Slot* slot_array = g_slots.load(std::memory_order_acquire);
  // A thread that runs answers within microseconds; one waiting for a CPU,
  // once it gets one.
  wait_for_answers(slots_, generation_, slot_array, deadline_ns, 100000);
  // A timer not yet due never fires now; a signal it already sent arrives
  // with a request that is withdrawn below, and is dropped.
  for (int timer : timers_) syscall(SYS_timer_delete, timer);
  timers_.clear();
  answers.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); i++) {
    Slot& slot = slot_array[slots_[i]];
    if (withdraw(slot, generation_) &&
        slot.state.load(std::memory_order_acquire) == state_word(generation_, kDone)) {
      answers[i].answered = true;
      answers[i].stack.assign(slot.pcs, slot.pcs + slot.depth);
      memcpy(answers[i].name, slot.name, sizeof answers[i].name);
      answers[i].name[sizeof answers[i].name - 1] = '\0';
    }
  }
  slots_.clear();
  begun_ = false;
  pthread_mutex_unlock(&g_capture_mutex);
  return answers;
}

StackRequests::~StackRequests() {
  if (begun_) collect(0);  // takes back what was not answered
}

void thread_stacks_cpu_signal_given_up() {
  pthread_mutex_lock(&g_capture_mutex);
  g_foreign_handler_logged = true;
  pthread_mutex_unlock(&g_capture_mutex);
}

void thread_stacks_child_after_fork() {
  g_capture_mutex = PTHREAD_MUTEX_INITIALIZER;
  // A request the parent left in a slot is for a thread that does not exist here.
  g_generation += 1;
}

}  // namespace ppagent
