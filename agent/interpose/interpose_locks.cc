// Interposed pthread lock, wait and join symbols, each defined with the
// symbol version(s) glibc 2.34+ gives it (exports.map): a caller bound to an
// old version reaches the implementation of that version — for
// pthread_cond_* @GLIBC_2.2.5 that is glibc's old condition-variable ABI.
//
// With both profiles off, every hook is a flag test and a tail call. On, a
// lock first tries the lock; only when that fails does it read clocks and
// touch shared state. trylock variants never wait and are not interposed.
#include "interpose/interpose_locks.h"

#include <atomic>
#include <cerrno>
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "interpose/next_definition.h"
#include "interpose/plt_rebinding.h"
#include "record/contention_profiler.h"

namespace ppagent {
namespace {

using MutexFn = int (*)(pthread_mutex_t*);
using MutexTimedFn = int (*)(pthread_mutex_t*, const struct timespec*);
using MutexClockFn = int (*)(pthread_mutex_t*, clockid_t, const struct timespec*);
using RwFn = int (*)(pthread_rwlock_t*);
using RwTimedFn = int (*)(pthread_rwlock_t*, const struct timespec*);
using RwClockFn = int (*)(pthread_rwlock_t*, clockid_t, const struct timespec*);
using CondWaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);
using CondTimedFn = int (*)(pthread_cond_t*, pthread_mutex_t*, const struct timespec*);
using CondClockFn = int (*)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
using SemFn = int (*)(sem_t*);
using SemTimedFn = int (*)(sem_t*, const struct timespec*);
using SemClockFn = int (*)(sem_t*, clockid_t, const struct timespec*);
using JoinFn = int (*)(pthread_t, void**);

NextDefinition<MutexFn> g_mutex_lock("pthread_mutex_lock", "GLIBC_2.2.5");
NextDefinition<MutexFn> g_mutex_trylock("pthread_mutex_trylock", "GLIBC_2.34");
NextDefinition<MutexFn> g_mutex_unlock("pthread_mutex_unlock", "GLIBC_2.2.5");
NextDefinition<MutexTimedFn> g_mutex_timedlock("pthread_mutex_timedlock", "GLIBC_2.34");
NextDefinition<MutexClockFn> g_mutex_clocklock("pthread_mutex_clocklock", "GLIBC_2.34");
NextDefinition<RwFn> g_rw_rdlock("pthread_rwlock_rdlock", "GLIBC_2.34");
NextDefinition<RwFn> g_rw_wrlock("pthread_rwlock_wrlock", "GLIBC_2.34");
NextDefinition<RwFn> g_rw_tryrdlock("pthread_rwlock_tryrdlock", "GLIBC_2.34");
NextDefinition<RwFn> g_rw_trywrlock("pthread_rwlock_trywrlock", "GLIBC_2.34");
NextDefinition<RwTimedFn> g_rw_timedrdlock("pthread_rwlock_timedrdlock", "GLIBC_2.34");
NextDefinition<RwTimedFn> g_rw_timedwrlock("pthread_rwlock_timedwrlock", "GLIBC_2.34");
NextDefinition<RwClockFn> g_rw_clockrdlock("pthread_rwlock_clockrdlock", "GLIBC_2.34");
NextDefinition<RwClockFn> g_rw_clockwrlock("pthread_rwlock_clockwrlock", "GLIBC_2.34");
NextDefinition<RwFn> g_rw_unlock("pthread_rwlock_unlock", "GLIBC_2.34");
NextDefinition<CondWaitFn> g_cond_wait("pthread_cond_wait", "GLIBC_2.3.2");
NextDefinition<CondTimedFn> g_cond_timedwait("pthread_cond_timedwait", "GLIBC_2.3.2");
NextDefinition<CondWaitFn> g_cond_wait_old("pthread_cond_wait", "GLIBC_2.2.5");
NextDefinition<CondTimedFn> g_cond_timedwait_old("pthread_cond_timedwait", "GLIBC_2.2.5");
NextDefinition<CondClockFn> g_cond_clockwait("pthread_cond_clockwait", "GLIBC_2.34");
NextDefinition<SemFn> g_sem_wait("sem_wait", "GLIBC_2.34");
NextDefinition<SemFn> g_sem_trywait("sem_trywait", "GLIBC_2.34");
NextDefinition<SemTimedFn> g_sem_timedwait("sem_timedwait", "GLIBC_2.34");
NextDefinition<SemClockFn> g_sem_clockwait("sem_clockwait", "GLIBC_2.34");
NextDefinition<JoinFn> g_join("pthread_join", "GLIBC_2.34");

__attribute__((constructor)) void resolve_lock_functions() {
  AgentScope scope;
  resolve_at_load(g_mutex_lock, g_mutex_trylock, g_mutex_unlock, g_mutex_timedlock,
                  g_mutex_clocklock, g_rw_rdlock, g_rw_wrlock, g_rw_tryrdlock, g_rw_trywrlock,
                  g_rw_timedrdlock, g_rw_timedwrlock, g_rw_clockrdlock, g_rw_clockwrlock,
                  g_rw_unlock, g_cond_wait, g_cond_timedwait, g_cond_wait_old,
                  g_cond_timedwait_old, g_cond_clockwait, g_sem_wait, g_sem_trywait,
                  g_sem_timedwait, g_sem_clockwait, g_join);
}

inline bool profiling() {
  return __builtin_expect(g_lock_profiling.load(std::memory_order_relaxed), 0) && !t_in_agent;
}

// A wait measured around `call`; `lock` is charged at release (mutex
// profile) when it is a mutex or rwlock. Waits that ended in an error other
// than a timeout did not really wait and are not recorded.
template <typename Call>
__attribute__((noinline)) int timed_wait(const void* lock, Call call) {
  ContentionProfiler::Wait wait = ContentionProfiler::begin_wait(lock);
  int rc = call();
  int errno_after_call = errno;  // recording must not change what the caller sees
  ContentionProfiler::end_wait(lock, wait, rc == 0 || rc == ETIMEDOUT);
  errno = errno_after_call;
  return rc;
}

// A release while some thread waits: the waiting it ends is charged before
// the lock is released (so no waiter can leave in between) and recorded
// after (so the recording does not lengthen the critical section).
template <typename Unlock>
__attribute__((noinline)) int charged_release(const void* lock, Unlock unlock) {
  int64_t delay = ContentionProfiler::charge_release(lock);
  int rc = unlock();
  if (delay > 0) {
    int errno_after_unlock = errno;
    ContentionProfiler::record_release(delay);
    errno = errno_after_unlock;
  }
  return rc;
}

// The contended path of a plain lock: the trylock failed with EBUSY.
template <typename Fn, typename Lock>
__attribute__((noinline)) int contended_lock(Fn lock_fn, Lock* lock) {
  return timed_wait(lock, [&] { return lock_fn(lock); });
}

// Whether unlocking `m` releases it (a recursive mutex held more than once
// is not released by this unlock). Reads glibc's mutex layout, only on the
// contended path.
bool releases(const pthread_mutex_t* m) {
  constexpr int kKindMask = 3;  // PTHREAD_MUTEX_KIND_MASK_NP
  bool recursive = (m->__data.__kind & kKindMask) == PTHREAD_MUTEX_RECURSIVE_NP;
  return !recursive || m->__data.__count <= 1;
}

int sem_errno_result(int rc) { return rc == 0 ? 0 : errno; }

}  // namespace
}  // namespace ppagent

using namespace ppagent;

// ---- mutexes --------------------------------------------------------------

// Robust, priority-inheritance and priority-protect mutexes: trylock has
// side effects there (on an unrecoverable robust mutex glibc's trylock
// returns ENOTRECOVERABLE but leaves the lock word taken), so they are only
// looked at, never tried. Reads glibc's mutex layout.
static bool has_special_protocol(const pthread_mutex_t* m) {
  constexpr int kRobust = 16, kPrioInherit = 32, kPrioProtect = 64;
  return (m->__data.__kind & (kRobust | kPrioInherit | kPrioProtect)) != 0;
}

namespace {

// pthread_mutex_lock and _unlock are the hottest calls a program makes: each
// jumps through one pointer, to glibc's function while profiling is off and
// to the profiling wrapper while it is on. Before the first call the
// pointer leads to a stub that looks glibc's function up.
int resolve_then_lock(pthread_mutex_t* m);
int resolve_then_unlock(pthread_mutex_t* m);
std::atomic<MutexFn> g_lock_target{resolve_then_lock};
std::atomic<MutexFn> g_unlock_target{resolve_then_unlock};

int resolve_then_lock(pthread_mutex_t* m) {
  MutexFn stub = resolve_then_lock;
  g_lock_target.compare_exchange_strong(stub, g_mutex_lock.get());
  return g_lock_target.load(std::memory_order_relaxed)(m);
}

int resolve_then_unlock(pthread_mutex_t* m) {
  MutexFn stub = resolve_then_unlock;
  g_unlock_target.compare_exchange_strong(stub, g_mutex_unlock.get());
  return g_unlock_target.load(std::memory_order_relaxed)(m);
}

// glibc's functions, looked up by route_mutex_hooks before it routes any
// call to the wrappers below (so the wrappers need no lookup check).
MutexFn g_real_lock, g_real_trylock, g_real_unlock;

// The contended path of pthread_mutex_lock. The agent's own locks (it uses a
// few) are not profiled: when one is contended, it is just waited for.
__attribute__((noinline)) int contended_mutex_lock(pthread_mutex_t* m) {
  if (t_in_agent) return g_real_lock(m);
  return contended_lock(g_real_lock, m);
}

// The calling thread's id, for the owner field of the mutexes locked below;
// cached because gettid is a system call (a forked child forgets it: its
// thread has a new id).
__thread pid_t t_thread_id __attribute__((tls_model("initial-exec"))) = 0;

inline pid_t thread_id() {
  pid_t tid = t_thread_id;
  if (__builtin_expect(tid == 0, 0)) t_thread_id = tid = static_cast<pid_t>(syscall(SYS_gettid));
  return tid;
}

// glibc's own uncontended path for its normal and adaptive mutex types (the
// default type, PTHREAD_MUTEX_INITIALIZER's and std::mutex's): one
// compare-and-swap of the lock word from 0 to 1, then the owner and the user
// count that glibc's unlock undoes. Done here rather than through
// pthread_mutex_trylock, whose general entry (five saved registers, a jump
// table, the elision check) costs about 2 ns more than the lock itself. All
// other types, and a failed swap, take the general path.
inline bool lock_if_free_normal(pthread_mutex_t* m) {
  // Kind bits: the type (3), robust (16), priority inheritance (32) and
  // protection (64), elision (256, 512); process-shared (128) changes nothing here.
  constexpr int kTypeBits = 3 | 16 | 32 | 64 | 256 | 512;
  int type = m->__data.__kind & kTypeBits;
  if (type != PTHREAD_MUTEX_TIMED_NP && type != PTHREAD_MUTEX_ADAPTIVE_NP) return false;
  int expected = 0;
  if (!__atomic_compare_exchange_n(&m->__data.__lock, &expected, 1, false, __ATOMIC_ACQUIRE,
                                   __ATOMIC_RELAXED))
    return false;
  m->__data.__owner = thread_id();
  ++m->__data.__nusers;
  return true;
}

int profiled_lock(pthread_mutex_t* m) {
  if (__builtin_expect(lock_if_free_normal(m), 1)) return 0;
  if (__builtin_expect(has_special_protocol(m), 0)) {
    // Free now: lock as usual (a race may miss one contention event).
    if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0) return g_real_lock(m);
    return contended_mutex_lock(m);
  }
  int rc = g_real_trylock(m);
  if (__builtin_expect(rc != EBUSY, 1)) return rc;
  return contended_mutex_lock(m);
}

int profiled_unlock(pthread_mutex_t* m) {
  if (__builtin_expect(g_lock_waiters.load(std::memory_order_relaxed) != 0, 0) && !t_in_agent &&
      releases(m))
    return charged_release(m, [m] { return g_real_unlock(m); });
  return g_real_unlock(m);
}

}  // namespace

// Defined below, as aliases of the exported entry points.
extern "C" int agent_mutex_lock(pthread_mutex_t*);
extern "C" int agent_mutex_unlock(pthread_mutex_t*);

namespace ppagent {
void forget_lock_thread_id() { t_thread_id = 0; }

void route_mutex_hooks(bool lock_profiled, bool unlock_profiled, bool rebind_calls) {
  g_real_lock = g_mutex_lock.get();
  g_real_trylock = g_mutex_trylock.get();
  g_real_unlock = g_mutex_unlock.get();
  g_lock_target.store(lock_profiled ? profiled_lock : g_real_lock);
  g_unlock_target.store(unlock_profiled ? profiled_unlock : g_real_unlock);
  // Even one indirect jump is measurable on these calls: the program's calls
  // of a function with nothing to record go to glibc's directly (objects
  // loaded later still come through the pointer above).
  if (!rebind_calls) return;
  PltRebinding rebindings[2];
  size_t count = 0;
  if (!lock_profiled)
    rebindings[count++] = {"pthread_mutex_lock", reinterpret_cast<void*>(agent_mutex_lock),
                           reinterpret_cast<void*>(g_real_lock)};
  if (!unlock_profiled)
    rebindings[count++] = {"pthread_mutex_unlock", reinterpret_cast<void*>(agent_mutex_unlock),
                           reinterpret_cast<void*>(g_real_unlock)};
  rebind_plt_calls(rebindings, count);
}
}  // namespace ppagent

PPAGENT_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) {
  return g_lock_target.load(std::memory_order_relaxed)(m);
}

PPAGENT_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) {
  return g_unlock_target.load(std::memory_order_relaxed)(m);
}

// This library's own definitions, even where another preloaded library's
// come first in the process.
extern "C" int agent_mutex_lock(pthread_mutex_t*) __attribute__((alias("pthread_mutex_lock")));
extern "C" int agent_mutex_unlock(pthread_mutex_t*) __attribute__((alias("pthread_mutex_unlock")));

namespace {
int mutex_timedlock(pthread_mutex_t* m, const struct timespec* abstime) {
  if (!profiling()) return g_mutex_timedlock.get()(m, abstime);
  return timed_wait(m, [&] { return g_mutex_timedlock.get()(m, abstime); });
}
int mutex_clocklock(pthread_mutex_t* m, clockid_t clock, const struct timespec* abstime) {
  if (!profiling()) return g_mutex_clocklock.get()(m, clock, abstime);
  return timed_wait(m, [&] { return g_mutex_clocklock.get()(m, clock, abstime); });
}
}  // namespace

PPAGENT_EXPORT PPAGENT_VERSION("pthread_mutex_timedlock@@GLIBC_2.34")
int ppagent_mutex_timedlock(pthread_mutex_t* m, const struct timespec* t) { return mutex_timedlock(m, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_mutex_timedlock@GLIBC_2.2.5")
int ppagent_mutex_timedlock_2_2_5(pthread_mutex_t* m, const struct timespec* t) { return mutex_timedlock(m, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_mutex_clocklock@@GLIBC_2.34")
int ppagent_mutex_clocklock(pthread_mutex_t* m, clockid_t c, const struct timespec* t) { return mutex_clocklock(m, c, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_mutex_clocklock@GLIBC_2.30")
int ppagent_mutex_clocklock_2_30(pthread_mutex_t* m, clockid_t c, const struct timespec* t) { return mutex_clocklock(m, c, t); }

// ---- rwlocks --------------------------------------------------------------

namespace {
int rw_lock(NextDefinition<RwFn>& lock_fn, NextDefinition<RwFn>& try_fn, pthread_rwlock_t* rw) {
  if (!profiling()) return lock_fn.get()(rw);
  int rc = try_fn.get()(rw);
  if (__builtin_expect(rc != EBUSY, 1)) return rc;
  return contended_lock(lock_fn.get(), rw);
}
int rw_timed(NextDefinition<RwTimedFn>& fn, pthread_rwlock_t* rw, const struct timespec* t) {
  if (!profiling()) return fn.get()(rw, t);
  return timed_wait(rw, [&] { return fn.get()(rw, t); });
}
int rw_clock(NextDefinition<RwClockFn>& fn, pthread_rwlock_t* rw, clockid_t c, const struct timespec* t) {
  if (!profiling()) return fn.get()(rw, c, t);
  return timed_wait(rw, [&] { return fn.get()(rw, c, t); });
}
int rw_unlock(pthread_rwlock_t* rw) {
  // A reader's unlock ends a writer's wait only when it is the last reader;
  // charging every reader's unlock is simpler and counts nothing twice.
  if (__builtin_expect(g_lock_waiters.load(std::memory_order_relaxed) != 0, 0) && !t_in_agent)
    return charged_release(rw, [rw] { return g_rw_unlock.get()(rw); });
  return g_rw_unlock.get()(rw);
}
}  // namespace

// The current version and the GLIBC_2.2.5 alias (the same implementation).
#define RW_PAIR(name, params, call)                                                     \
  PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_" #name "@@GLIBC_2.34") int ppagent_rwlock_##name params { \
    return call;                                                                        \
  }                                                                                     \
  PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_" #name "@GLIBC_2.2.5") int ppagent_rwlock_##name##_2_2_5 params { return call; }

RW_PAIR(rdlock, (pthread_rwlock_t* rw), rw_lock(g_rw_rdlock, g_rw_tryrdlock, rw))
RW_PAIR(wrlock, (pthread_rwlock_t* rw), rw_lock(g_rw_wrlock, g_rw_trywrlock, rw))
RW_PAIR(timedrdlock, (pthread_rwlock_t* rw, const struct timespec* t), rw_timed(g_rw_timedrdlock, rw, t))
RW_PAIR(timedwrlock, (pthread_rwlock_t* rw, const struct timespec* t), rw_timed(g_rw_timedwrlock, rw, t))
RW_PAIR(unlock, (pthread_rwlock_t* rw), rw_unlock(rw))

PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_clockrdlock@@GLIBC_2.34")
int ppagent_rwlock_clockrdlock(pthread_rwlock_t* rw, clockid_t c, const struct timespec* t) { return rw_clock(g_rw_clockrdlock, rw, c, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_clockrdlock@GLIBC_2.30")
int ppagent_rwlock_clockrdlock_2_30(pthread_rwlock_t* rw, clockid_t c, const struct timespec* t) { return rw_clock(g_rw_clockrdlock, rw, c, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_clockwrlock@@GLIBC_2.34")
int ppagent_rwlock_clockwrlock(pthread_rwlock_t* rw, clockid_t c, const struct timespec* t) { return rw_clock(g_rw_clockwrlock, rw, c, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_rwlock_clockwrlock@GLIBC_2.30")
int ppagent_rwlock_clockwrlock_2_30(pthread_rwlock_t* rw, clockid_t c, const struct timespec* t) { return rw_clock(g_rw_clockwrlock, rw, c, t); }

// ---- condition variables: the whole wait is blocking ------------------------

namespace {
int cond_wait(NextDefinition<CondWaitFn>& fn, pthread_cond_t* c, pthread_mutex_t* m) {
  if (!profiling()) return fn.get()(c, m);
  return timed_wait(nullptr, [&] { return fn.get()(c, m); });
}
int cond_timedwait(NextDefinition<CondTimedFn>& fn, pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) {
  if (!profiling()) return fn.get()(c, m, t);
  return timed_wait(nullptr, [&] { return fn.get()(c, m, t); });
}
int cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock, const struct timespec* t) {
  if (!profiling()) return g_cond_clockwait.get()(c, m, clock, t);
  return timed_wait(nullptr, [&] { return g_cond_clockwait.get()(c, m, clock, t); });
}
}  // namespace

PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_wait@@GLIBC_2.3.2")
int ppagent_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) { return cond_wait(g_cond_wait, c, m); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_wait@GLIBC_2.2.5")
int ppagent_cond_wait_2_2_5(pthread_cond_t* c, pthread_mutex_t* m) { return cond_wait(g_cond_wait_old, c, m); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_timedwait@@GLIBC_2.3.2")
int ppagent_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) { return cond_timedwait(g_cond_timedwait, c, m, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_timedwait@GLIBC_2.2.5")
int ppagent_cond_timedwait_2_2_5(pthread_cond_t* c, pthread_mutex_t* m, const struct timespec* t) { return cond_timedwait(g_cond_timedwait_old, c, m, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_clockwait@@GLIBC_2.34")
int ppagent_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t k, const struct timespec* t) { return cond_clockwait(c, m, k, t); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_cond_clockwait@GLIBC_2.30")
int ppagent_cond_clockwait_2_30(pthread_cond_t* c, pthread_mutex_t* m, clockid_t k, const struct timespec* t) { return cond_clockwait(c, m, k, t); }

// ---- semaphores: sem_* report errors through errno ---------------------------

namespace {
int sem_wait_impl(sem_t* s) {
  if (!profiling()) return g_sem_wait.get()(s);
  int saved_errno = errno;
  if (g_sem_trywait.get()(s) == 0) return 0;
  if (errno != EAGAIN) return -1;  // EINVAL etc.: as sem_wait would report it
  errno = saved_errno;  // the trywait's EAGAIN must not show
  int rc = 0;
  timed_wait(nullptr, [&] {
    rc = g_sem_wait.get()(s);
    return sem_errno_result(rc);
  });
  return rc;
}
int sem_timed_impl(sem_t* s, const struct timespec* t) {
  if (!profiling()) return g_sem_timedwait.get()(s, t);
  int rc = 0;
  timed_wait(nullptr, [&] {
    rc = g_sem_timedwait.get()(s, t);
    return sem_errno_result(rc);
  });
  return rc;
}
int sem_clock_impl(sem_t* s, clockid_t c, const struct timespec* t) {
  if (!profiling()) return g_sem_clockwait.get()(s, c, t);
  int rc = 0;
  timed_wait(nullptr, [&] {
    rc = g_sem_clockwait.get()(s, c, t);
    return sem_errno_result(rc);
  });
  return rc;
}
}  // namespace

PPAGENT_EXPORT PPAGENT_VERSION("sem_wait@@GLIBC_2.34") int ppagent_sem_wait(sem_t* s) { return sem_wait_impl(s); }
PPAGENT_EXPORT PPAGENT_VERSION("sem_wait@GLIBC_2.2.5") int ppagent_sem_wait_2_2_5(sem_t* s) { return sem_wait_impl(s); }
PPAGENT_EXPORT PPAGENT_VERSION("sem_timedwait@@GLIBC_2.34") int ppagent_sem_timedwait(sem_t* s, const struct timespec* t) { return sem_timed_impl(s, t); }
PPAGENT_EXPORT PPAGENT_VERSION("sem_timedwait@GLIBC_2.2.5") int ppagent_sem_timedwait_2_2_5(sem_t* s, const struct timespec* t) { return sem_timed_impl(s, t); }
PPAGENT_EXPORT PPAGENT_VERSION("sem_clockwait@@GLIBC_2.34") int ppagent_sem_clockwait(sem_t* s, clockid_t c, const struct timespec* t) { return sem_clock_impl(s, c, t); }
PPAGENT_EXPORT PPAGENT_VERSION("sem_clockwait@GLIBC_2.30") int ppagent_sem_clockwait_2_30(sem_t* s, clockid_t c, const struct timespec* t) { return sem_clock_impl(s, c, t); }

// ---- pthread_join -----------------------------------------------------------

namespace {
int join_impl(pthread_t thread, void** result) {
  if (!profiling()) return g_join.get()(thread, result);
  return timed_wait(nullptr, [&] { return g_join.get()(thread, result); });
}
}  // namespace

PPAGENT_EXPORT PPAGENT_VERSION("pthread_join@@GLIBC_2.34") int ppagent_join(pthread_t t, void** r) { return join_impl(t, r); }
PPAGENT_EXPORT PPAGENT_VERSION("pthread_join@GLIBC_2.2.5") int ppagent_join_2_2_5(pthread_t t, void** r) { return join_impl(t, r); }
