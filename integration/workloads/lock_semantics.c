/* lock_semantics: a table of pthread/semaphore calls and what they return.
 *
 * One line per check: `<name> rc=<return value> errno=<errno after the call>`
 * (errno is set to the sentinel 777 before every call, so a function that
 * must not touch errno shows 777). Some checks print a value instead. The
 * output depends only on glibc's semantics, never on timing: every timeout
 * is a real expiry (20 ms) or a wait that is sure to end, and every
 * "contended" check waits for something another thread does later. The
 * integration test runs it without the agent and under the agent (lock
 * profiling on and off) and requires identical output: the agent must return
 * exactly what the real functions return, with errno untouched.
 *
 * Covered: mutexes of every type (normal, default, recursive, errorcheck,
 * robust normal/recursive/errorcheck, process-shared, process-shared robust)
 * with lock/trylock/timedlock/clocklock/unlock from the owner and from other
 * threads, error cases (EDEADLK, EPERM, EBUSY, ETIMEDOUT, EINVAL for a bad
 * tv_nsec or clock, EOWNERDEAD/ENOTRECOVERABLE after an owner thread or
 * process died holding a robust mutex), real contention across threads and
 * across processes; rwlocks (try/timed/clock variants, EDEADLK, EINVAL);
 * condition variables (timedwait/clockwait timeouts, EINVAL, EPERM with an
 * errorcheck mutex not held); semaphores (EAGAIN, ETIMEDOUT, EINVAL, EINTR
 * with errno); pthread_join (finished, running, self); and callers bound to
 * OLD symbol versions: pthread_cond_*@GLIBC_2.2.5 (a different, older
 * implementation that keeps a pointer to a separately allocated condvar in
 * the first word of the object), pthread_mutex_trylock@GLIBC_2.2.5 and
 * sem_wait@GLIBC_2.2.5. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Old-ABI entry points, bound to the GLIBC_2.2.5 versions. */
extern int old_cond_init(pthread_cond_t *, const pthread_condattr_t *);
extern int old_cond_destroy(pthread_cond_t *);
extern int old_cond_wait(pthread_cond_t *, pthread_mutex_t *);
extern int old_cond_timedwait(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
extern int old_cond_signal(pthread_cond_t *);
extern int old_cond_broadcast(pthread_cond_t *);
extern int old_mutex_trylock(pthread_mutex_t *);
extern int old_sem_wait(sem_t *);
__asm__(".symver old_cond_init, pthread_cond_init@GLIBC_2.2.5");
__asm__(".symver old_cond_destroy, pthread_cond_destroy@GLIBC_2.2.5");
__asm__(".symver old_cond_wait, pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver old_cond_timedwait, pthread_cond_timedwait@GLIBC_2.2.5");
__asm__(".symver old_cond_signal, pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver old_cond_broadcast, pthread_cond_broadcast@GLIBC_2.2.5");
__asm__(".symver old_mutex_trylock, pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver old_sem_wait, sem_wait@GLIBC_2.2.5");

#define SENTINEL 777
#define SHORT_MS 20     /* timeouts that must expire */
#define HOLD_MS 40      /* how long a helper holds something others wait for */
#define LONG_MS 10000   /* timeouts that must not expire */

static const char *errname(int e) {
  switch (e) {
    case 0: return "0";
    case SENTINEL: return "untouched";
    case EAGAIN: return "EAGAIN";
    case EBUSY: return "EBUSY";
    case EDEADLK: return "EDEADLK";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EOWNERDEAD: return "EOWNERDEAD";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "other";
  }
}

static void report(const char *name, int rc, int err) {
  /* pthread functions return an error number; sem_* return -1 and set errno. */
  printf("%-44s rc=%d(%s) errno=%d(%s)\n", name, rc, rc > 0 ? errname(rc) : "", err,
         errname(err));
}

#define CHECK(name, call)          \
  do {                             \
    errno = SENTINEL;              \
    int rc_ = (call);              \
    int e_ = errno;                \
    report((name), rc_, e_);       \
  } while (0)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* An absolute time `ms` from now on `clock`. */
static struct timespec at(clockid_t clock, long ms) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

static const struct timespec BAD_NS = {0, 2000000000}; /* tv_nsec out of range */
static const struct timespec PAST = {1, 0};             /* 1970 */

/* ------------------------------------------------------------------------
 * Running one operation on another thread: the operation's return value and
 * errno come back to the main thread, which prints them (output order is the
 * program's order). */

typedef int (*op_fn)(void *);
struct job {
  op_fn fn;
  void *arg;
  int rc, err;
};

static void *job_main(void *p) {
  struct job *j = p;
  errno = SENTINEL;
  j->rc = j->fn(j->arg);
  j->err = errno;
  return NULL;
}

static void other(const char *name, op_fn fn, void *arg) {
  struct job j = {fn, arg, 0, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, job_main, &j) != 0) abort();
  pthread_join(t, NULL);
  report(name, j.rc, j.err);
}

/* Operations on a mutex (arg = pthread_mutex_t *). */
static int op_trylock_unlock(void *m) {
  int rc = pthread_mutex_trylock(m);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_timedlock_short(void *m) {
  struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
  int rc = pthread_mutex_timedlock(m, &ts);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_timedlock_past(void *m) {
  int rc = pthread_mutex_timedlock(m, &PAST);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_timedlock_badns(void *m) {
  int rc = pthread_mutex_timedlock(m, &BAD_NS);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_clocklock_mono_short(void *m) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_clocklock_real_short(void *m) {
  struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
  int rc = pthread_mutex_clocklock(m, CLOCK_REALTIME, &ts);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_clocklock_badclock(void *m) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_mutex_clocklock(m, CLOCK_PROCESS_CPUTIME_ID, &ts);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}
static int op_unlock(void *m) { return pthread_mutex_unlock(m); }
static int op_old_trylock(void *m) {
  int rc = old_mutex_trylock(m);
  if (rc == 0) pthread_mutex_unlock(m);
  return rc;
}

/* A helper that takes a mutex, says so, and either releases it after
 * HOLD_MS or exits holding it (robust mutexes). */
struct holder {
  pthread_mutex_t *m;
  int die_holding;
  volatile int locked;
  int rc;
};

static void *holder_main(void *p) {
  struct holder *h = p;
  h->rc = pthread_mutex_lock(h->m);
  __atomic_store_n(&h->locked, 1, __ATOMIC_RELEASE);
  sleep_ms(HOLD_MS);
  if (!h->die_holding) pthread_mutex_unlock(h->m);
  return NULL;
}

static pthread_t start_holder(struct holder *h, pthread_mutex_t *m, int die_holding) {
  h->m = m;
  h->die_holding = die_holding;
  h->locked = 0;
  pthread_t t;
  if (pthread_create(&t, NULL, holder_main, h) != 0) abort();
  while (!__atomic_load_n(&h->locked, __ATOMIC_ACQUIRE)) sleep_ms(1);
  return t;
}

/* A thread that locks `m` and exits holding it (robust mutexes). */
static void owner_dies(pthread_mutex_t *m) {
  struct holder h;
  pthread_t t = start_holder(&h, m, 1);
  pthread_join(t, NULL);
}

/* ------------------------------------------------------------------------
 * Mutexes */

enum { NORMAL, DEFAULT, RECURSIVE, ERRORCHECK, ROBUST, ROBUST_RECURSIVE, ROBUST_ERRORCHECK,
       PSHARED, PSHARED_ROBUST, NKINDS };
static const char *kind_name[] = {"normal", "default", "recursive", "errorcheck", "robust",
                                  "robust_recursive", "robust_errorcheck", "pshared",
                                  "pshared_robust"};

static int is_robust(int k) {
  return k == ROBUST || k == ROBUST_RECURSIVE || k == ROBUST_ERRORCHECK || k == PSHARED_ROBUST;
}
static int owner_checked(int k) { /* unlock by a non-owner is an error, not UB */
  return k == RECURSIVE || k == ERRORCHECK || is_robust(k);
}

static int init_kind(pthread_mutex_t *m, int k) {
  if (k == DEFAULT) return pthread_mutex_init(m, NULL);
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  int type = PTHREAD_MUTEX_NORMAL;
  if (k == RECURSIVE || k == ROBUST_RECURSIVE) type = PTHREAD_MUTEX_RECURSIVE;
  if (k == ERRORCHECK || k == ROBUST_ERRORCHECK) type = PTHREAD_MUTEX_ERRORCHECK;
  pthread_mutexattr_settype(&a, type);
  if (is_robust(k)) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  if (k == PSHARED || k == PSHARED_ROBUST)
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  int rc = pthread_mutex_init(m, &a);
  pthread_mutexattr_destroy(&a);
  return rc;
}

/* What a lock leaves in glibc's mutex (the agent locks some types itself):
 * the owner field names the calling thread, the user count, the lock word. */
static void report_state(const char *name, const pthread_mutex_t *m) {
  int tid = (int)syscall(SYS_gettid);
  char word[16]; /* a robust mutex's lock word holds the owner's thread id */
  if (m->__data.__lock == tid) snprintf(word, sizeof word, "self");
  else snprintf(word, sizeof word, "%d", m->__data.__lock);
  printf("%-44s owner_is_self=%d owner_zero=%d nusers=%u lock_word=%s\n", name,
         m->__data.__owner == tid, m->__data.__owner == 0, m->__data.__nusers, word);
}

static void *lock_report_unlock(void *p) {
  pthread_mutex_t *m = p;
  pthread_mutex_lock(m);
  report_state("mutex.default.thread.locked.state", m);
  pthread_mutex_unlock(m);
  return NULL;
}

/* The owner field after a lock in another thread and in a forked child (whose
 * thread has a new id). */
static void mutex_owner_checks(void) {
  static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_t t;
  pthread_create(&t, NULL, lock_report_unlock, &m);
  pthread_join(t, NULL);
  pid_t child = fork();
  if (child == 0) {
    pthread_mutex_lock(&m);
    report_state("mutex.default.forked_child.locked.state", &m);
    pthread_mutex_unlock(&m);
    report_state("mutex.default.forked_child.unlocked.state", &m);
    fflush(stdout);
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  printf("%-44s status=%d\n", "mutex.default.forked_child.exit", status);
}

static void mutex_checks(int k, pthread_mutex_t *m) {
  char n[96];
#define N(suffix) (snprintf(n, sizeof n, "mutex.%s.%s", kind_name[k], suffix), n)
  CHECK(N("init"), init_kind(m, k));
  CHECK(N("lock"), pthread_mutex_lock(m));
  report_state(N("locked.state"), m);
  other(N("other.trylock"), op_trylock_unlock, m);
  other(N("other.old_trylock@2.2.5"), op_old_trylock, m);
  other(N("other.timedlock.timeout"), op_timedlock_short, m);
  other(N("other.timedlock.past"), op_timedlock_past, m);
  other(N("other.timedlock.bad_nsec"), op_timedlock_badns, m);
  other(N("other.clocklock.monotonic.timeout"), op_clocklock_mono_short, m);
  other(N("other.clocklock.realtime.timeout"), op_clocklock_real_short, m);
  other(N("other.clocklock.bad_clock"), op_clocklock_badclock, m);
  if (owner_checked(k)) other(N("other.unlock"), op_unlock, m);

  /* The owner again. */
  int rc;
  CHECK(N("self.trylock"), (rc = pthread_mutex_trylock(m)));
  if (rc == 0) CHECK(N("self.trylock.unlock"), pthread_mutex_unlock(m));
  if (k == RECURSIVE || k == ERRORCHECK || k == ROBUST_RECURSIVE || k == ROBUST_ERRORCHECK) {
    CHECK(N("self.lock"), (rc = pthread_mutex_lock(m)));
    if (rc == 0) CHECK(N("self.lock.unlock"), pthread_mutex_unlock(m));
  }
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK(N("self.timedlock"), (rc = pthread_mutex_timedlock(m, &ts)));
    if (rc == 0) CHECK(N("self.timedlock.unlock"), pthread_mutex_unlock(m));
    ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK(N("self.clocklock"), (rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts)));
    if (rc == 0) CHECK(N("self.clocklock.unlock"), pthread_mutex_unlock(m));
  }
  if (!is_robust(k)) CHECK(N("destroy.while_locked"), pthread_mutex_destroy(m));
  CHECK(N("unlock"), pthread_mutex_unlock(m));
  report_state(N("unlocked.state"), m);
  if (owner_checked(k)) CHECK(N("unlock.not_locked"), pthread_mutex_unlock(m));

  /* Free mutex: which calls validate their arguments before acquiring. */
  CHECK(N("free.timedlock.bad_nsec"), (rc = pthread_mutex_timedlock(m, &BAD_NS)));
  if (rc == 0) pthread_mutex_unlock(m);
  {
    struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK(N("free.clocklock.bad_clock"),
          (rc = pthread_mutex_clocklock(m, CLOCK_PROCESS_CPUTIME_ID, &ts)));
    if (rc == 0) pthread_mutex_unlock(m);
  }
  CHECK(N("free.old_trylock@2.2.5"), (rc = old_mutex_trylock(m)));
  if (rc == 0) CHECK(N("free.old_trylock.unlock"), pthread_mutex_unlock(m));

  /* Real contention: another thread holds it for HOLD_MS. */
  {
    struct holder h;
    pthread_t t = start_holder(&h, m, 0);
    CHECK(N("contended.lock"), (rc = pthread_mutex_lock(m)));
    if (rc == 0) CHECK(N("contended.lock.unlock"), pthread_mutex_unlock(m));
    pthread_join(t, NULL);
    t = start_holder(&h, m, 0);
    struct timespec ts = at(CLOCK_REALTIME, LONG_MS);
    CHECK(N("contended.timedlock"), (rc = pthread_mutex_timedlock(m, &ts)));
    if (rc == 0) CHECK(N("contended.timedlock.unlock"), pthread_mutex_unlock(m));
    pthread_join(t, NULL);
    t = start_holder(&h, m, 0);
    ts = at(CLOCK_MONOTONIC, LONG_MS);
    CHECK(N("contended.clocklock"), (rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts)));
    if (rc == 0) CHECK(N("contended.clocklock.unlock"), pthread_mutex_unlock(m));
    pthread_join(t, NULL);
  }
  CHECK(N("destroy"), pthread_mutex_destroy(m));
#undef N
}

/* Robust mutexes whose owner died. */
static void robust_checks(pthread_mutex_t *m) {
  int rc;
  init_kind(m, ROBUST);
  owner_dies(m);
  CHECK("robust.owner_died.lock", (rc = pthread_mutex_lock(m)));
  CHECK("robust.owner_died.lock.consistent", pthread_mutex_consistent(m));
  CHECK("robust.owner_died.lock.unlock", pthread_mutex_unlock(m));
  CHECK("robust.recovered.lock", pthread_mutex_lock(m));
  CHECK("robust.recovered.unlock", pthread_mutex_unlock(m));

  owner_dies(m);
  CHECK("robust.owner_died.trylock", pthread_mutex_trylock(m));
  CHECK("robust.owner_died.trylock.consistent", pthread_mutex_consistent(m));
  CHECK("robust.owner_died.trylock.unlock", pthread_mutex_unlock(m));

  owner_dies(m);
  {
    struct timespec ts = at(CLOCK_REALTIME, LONG_MS);
    CHECK("robust.owner_died.timedlock", pthread_mutex_timedlock(m, &ts));
    CHECK("robust.owner_died.timedlock.consistent", pthread_mutex_consistent(m));
    CHECK("robust.owner_died.timedlock.unlock", pthread_mutex_unlock(m));
  }
  owner_dies(m);
  {
    struct timespec ts = at(CLOCK_MONOTONIC, LONG_MS);
    CHECK("robust.owner_died.clocklock", pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts));
    CHECK("robust.owner_died.clocklock.consistent", pthread_mutex_consistent(m));
    CHECK("robust.owner_died.clocklock.unlock", pthread_mutex_unlock(m));
  }
  /* A waiter blocked in lock() when the owner exits. */
  {
    struct holder h;
    pthread_t t = start_holder(&h, m, 1);
    CHECK("robust.owner_dies_while_waiting.lock", pthread_mutex_lock(m));
    CHECK("robust.owner_dies_while_waiting.consistent", pthread_mutex_consistent(m));
    CHECK("robust.owner_dies_while_waiting.unlock", pthread_mutex_unlock(m));
    pthread_join(t, NULL);
  }
  /* Not made consistent: unrecoverable from then on. */
  owner_dies(m);
  CHECK("robust.unrecoverable.lock", pthread_mutex_lock(m));
  CHECK("robust.unrecoverable.unlock_without_consistent", pthread_mutex_unlock(m));
  CHECK("robust.unrecoverable.lock_again", pthread_mutex_lock(m));
  CHECK("robust.unrecoverable.trylock", pthread_mutex_trylock(m));
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("robust.unrecoverable.timedlock", pthread_mutex_timedlock(m, &ts));
  }
  CHECK("robust.unrecoverable.destroy", pthread_mutex_destroy(m));

  /* Robust recursive: the owner died holding it. */
  init_kind(m, ROBUST_RECURSIVE);
  owner_dies(m);
  CHECK("robust_recursive.owner_died.lock", pthread_mutex_lock(m));
  CHECK("robust_recursive.owner_died.consistent", pthread_mutex_consistent(m));
  CHECK("robust_recursive.lock_again", pthread_mutex_lock(m));
  CHECK("robust_recursive.unlock1", pthread_mutex_unlock(m));
  CHECK("robust_recursive.unlock2", pthread_mutex_unlock(m));
  CHECK("robust_recursive.unlock3", pthread_mutex_unlock(m));
  CHECK("robust_recursive.destroy", pthread_mutex_destroy(m));
  (void)rc;
}

/* Process-shared mutexes across fork: the holder is another process. */
static void pshared_process_checks(void) {
  pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) abort();
  int rc;
  for (int robust = 0; robust <= 1; robust++) {
    const char *kn = robust ? "pshared_robust" : "pshared";
    char n[96];
#define N(suffix) (snprintf(n, sizeof n, "process.%s.%s", kn, suffix), n)
    CHECK(N("init"), init_kind(m, robust ? PSHARED_ROBUST : PSHARED));
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
      char c = 0;
      int r = pthread_mutex_lock(m);
      c = (char)r;
      if (write(to_parent[1], &c, 1) != 1) _exit(3);
      if (read(to_child[0], &c, 1) != 1) _exit(4);  /* "release it now" */
      sleep_ms(HOLD_MS);
      if (!robust) pthread_mutex_unlock(m);
      _exit(0); /* robust: dies holding it */
    }
    char c;
    if (read(to_parent[0], &c, 1) != 1) abort();
    printf("%-44s rc=%d\n", N("child.lock"), (int)c);
    CHECK(N("held_by_child.trylock"), pthread_mutex_trylock(m));
    {
      struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
      CHECK(N("held_by_child.timedlock"), pthread_mutex_timedlock(m, &ts));
      ts = at(CLOCK_MONOTONIC, SHORT_MS);
      CHECK(N("held_by_child.clocklock"), pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts));
    }
    if (write(to_child[1], "r", 1) != 1) abort();
    CHECK(N("held_by_child.lock"), (rc = pthread_mutex_lock(m)));
    if (robust && rc == EOWNERDEAD) CHECK(N("consistent"), pthread_mutex_consistent(m));
    CHECK(N("unlock"), pthread_mutex_unlock(m));
    int status;
    waitpid(pid, &status, 0);
    printf("%-44s status=%d\n", N("child.exit"), WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK(N("destroy"), pthread_mutex_destroy(m));
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
#undef N
  }
  munmap(m, 4096);
}

/* ------------------------------------------------------------------------
 * rwlocks (arg = pthread_rwlock_t *) */

static int rw_tryrd(void *rw) {
  int rc = pthread_rwlock_tryrdlock(rw);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_trywr(void *rw) {
  int rc = pthread_rwlock_trywrlock(rw);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_timedrd(void *rw) {
  struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
  int rc = pthread_rwlock_timedrdlock(rw, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_timedwr(void *rw) {
  struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
  int rc = pthread_rwlock_timedwrlock(rw, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_clockrd(void *rw) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_rwlock_clockrdlock(rw, CLOCK_MONOTONIC, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_clockwr(void *rw) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_rwlock_clockwrlock(rw, CLOCK_MONOTONIC, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_timedrd_badns(void *rw) {
  int rc = pthread_rwlock_timedrdlock(rw, &BAD_NS);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_timedwr_badns(void *rw) {
  int rc = pthread_rwlock_timedwrlock(rw, &BAD_NS);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_clockrd_badclock(void *rw) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_rwlock_clockrdlock(rw, CLOCK_PROCESS_CPUTIME_ID, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}
static int rw_clockwr_badclock(void *rw) {
  struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
  int rc = pthread_rwlock_clockwrlock(rw, CLOCK_PROCESS_CPUTIME_ID, &ts);
  if (rc == 0) pthread_rwlock_unlock(rw);
  return rc;
}

struct rw_holder {
  pthread_rwlock_t *rw;
  int write;
  volatile int locked;
};
static void *rw_holder_main(void *p) {
  struct rw_holder *h = p;
  if (h->write)
    pthread_rwlock_wrlock(h->rw);
  else
    pthread_rwlock_rdlock(h->rw);
  __atomic_store_n(&h->locked, 1, __ATOMIC_RELEASE);
  sleep_ms(HOLD_MS);
  pthread_rwlock_unlock(h->rw);
  return NULL;
}
static pthread_t start_rw_holder(struct rw_holder *h, pthread_rwlock_t *rw, int write) {
  h->rw = rw;
  h->write = write;
  h->locked = 0;
  pthread_t t;
  if (pthread_create(&t, NULL, rw_holder_main, h) != 0) abort();
  while (!__atomic_load_n(&h->locked, __ATOMIC_ACQUIRE)) sleep_ms(1);
  return t;
}

static void rwlock_checks(void) {
  pthread_rwlock_t rw;
  int rc;
  CHECK("rwlock.init", pthread_rwlock_init(&rw, NULL));
  CHECK("rwlock.rdlock", pthread_rwlock_rdlock(&rw));
  other("rwlock.read_held.other.tryrdlock", rw_tryrd, &rw);
  other("rwlock.read_held.other.trywrlock", rw_trywr, &rw);
  other("rwlock.read_held.other.timedrdlock", rw_timedrd, &rw);
  other("rwlock.read_held.other.timedwrlock.timeout", rw_timedwr, &rw);
  other("rwlock.read_held.other.clockwrlock.timeout", rw_clockwr, &rw);
  other("rwlock.read_held.other.timedwrlock.bad_nsec", rw_timedwr_badns, &rw);
  other("rwlock.read_held.other.clockwrlock.bad_clock", rw_clockwr_badclock, &rw);
  CHECK("rwlock.read_held.self.rdlock_again", pthread_rwlock_rdlock(&rw));
  CHECK("rwlock.read_held.unlock1", pthread_rwlock_unlock(&rw));
  CHECK("rwlock.read_held.unlock2", pthread_rwlock_unlock(&rw));

  CHECK("rwlock.wrlock", pthread_rwlock_wrlock(&rw));
  other("rwlock.write_held.other.tryrdlock", rw_tryrd, &rw);
  other("rwlock.write_held.other.trywrlock", rw_trywr, &rw);
  other("rwlock.write_held.other.timedrdlock.timeout", rw_timedrd, &rw);
  other("rwlock.write_held.other.timedwrlock.timeout", rw_timedwr, &rw);
  other("rwlock.write_held.other.clockrdlock.timeout", rw_clockrd, &rw);
  other("rwlock.write_held.other.clockwrlock.timeout", rw_clockwr, &rw);
  other("rwlock.write_held.other.timedrdlock.bad_nsec", rw_timedrd_badns, &rw);
  other("rwlock.write_held.other.clockrdlock.bad_clock", rw_clockrd_badclock, &rw);
  CHECK("rwlock.write_held.self.wrlock", pthread_rwlock_wrlock(&rw));
  CHECK("rwlock.write_held.self.rdlock", pthread_rwlock_rdlock(&rw));
  CHECK("rwlock.write_held.self.tryrdlock", pthread_rwlock_tryrdlock(&rw));
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("rwlock.write_held.self.timedwrlock", pthread_rwlock_timedwrlock(&rw, &ts));
    ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("rwlock.write_held.self.clockrdlock",
          pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts));
  }
  CHECK("rwlock.write_held.unlock", pthread_rwlock_unlock(&rw));

  /* Free lock: argument checks come first in glibc. */
  CHECK("rwlock.free.timedrdlock.bad_nsec", (rc = pthread_rwlock_timedrdlock(&rw, &BAD_NS)));
  if (rc == 0) pthread_rwlock_unlock(&rw);
  CHECK("rwlock.free.timedwrlock.bad_nsec", (rc = pthread_rwlock_timedwrlock(&rw, &BAD_NS)));
  if (rc == 0) pthread_rwlock_unlock(&rw);
  {
    struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("rwlock.free.clockrdlock.bad_clock",
          (rc = pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ts)));
    if (rc == 0) pthread_rwlock_unlock(&rw);
    CHECK("rwlock.free.clockwrlock.bad_clock",
          (rc = pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ts)));
    if (rc == 0) pthread_rwlock_unlock(&rw);
  }
  CHECK("rwlock.free.timedwrlock.past", (rc = pthread_rwlock_timedwrlock(&rw, &PAST)));
  if (rc == 0) pthread_rwlock_unlock(&rw);

  /* Real contention. */
  {
    struct rw_holder h;
    pthread_t t = start_rw_holder(&h, &rw, 1);
    CHECK("rwlock.contended_by_writer.rdlock", pthread_rwlock_rdlock(&rw));
    CHECK("rwlock.contended_by_writer.rdlock.unlock", pthread_rwlock_unlock(&rw));
    pthread_join(t, NULL);
    t = start_rw_holder(&h, &rw, 1);
    CHECK("rwlock.contended_by_writer.wrlock", pthread_rwlock_wrlock(&rw));
    CHECK("rwlock.contended_by_writer.wrlock.unlock", pthread_rwlock_unlock(&rw));
    pthread_join(t, NULL);
    t = start_rw_holder(&h, &rw, 0);
    struct timespec ts = at(CLOCK_REALTIME, LONG_MS);
    CHECK("rwlock.contended_by_reader.timedwrlock", pthread_rwlock_timedwrlock(&rw, &ts));
    CHECK("rwlock.contended_by_reader.timedwrlock.unlock", pthread_rwlock_unlock(&rw));
    pthread_join(t, NULL);
    t = start_rw_holder(&h, &rw, 1);
    ts = at(CLOCK_MONOTONIC, LONG_MS);
    CHECK("rwlock.contended_by_writer.clockrdlock",
          pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts));
    CHECK("rwlock.contended_by_writer.clockrdlock.unlock", pthread_rwlock_unlock(&rw));
    pthread_join(t, NULL);
  }
  CHECK("rwlock.destroy", pthread_rwlock_destroy(&rw));
}

/* ------------------------------------------------------------------------
 * Condition variables */

static pthread_mutex_t c_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c_c = PTHREAD_COND_INITIALIZER;
static int c_flag;

struct setter {
  pthread_cond_t *c;
  int use_old; /* signal through pthread_cond_signal@GLIBC_2.2.5 */
};

static void *cond_setter(void *arg) {
  struct setter *s = arg;
  sleep_ms(HOLD_MS);
  pthread_mutex_lock(&c_m);
  c_flag = 1;
  if (s->use_old)
    old_cond_signal(s->c);
  else
    pthread_cond_signal(s->c);
  pthread_mutex_unlock(&c_m);
  return NULL;
}

static void cond_checks(void) {
  int rc;
  pthread_cond_t c;
  pthread_condattr_t ca;
  CHECK("cond.init", pthread_cond_init(&c, NULL));
  CHECK("cond.signal.no_waiters", pthread_cond_signal(&c));
  CHECK("cond.broadcast.no_waiters", pthread_cond_broadcast(&c));
  pthread_mutex_lock(&c_m);
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("cond.timedwait.timeout", pthread_cond_timedwait(&c, &c_m, &ts));
    other("cond.timedwait.timeout.mutex_held_again", op_trylock_unlock, &c_m);
    CHECK("cond.timedwait.past", pthread_cond_timedwait(&c, &c_m, &PAST));
    CHECK("cond.timedwait.bad_nsec", pthread_cond_timedwait(&c, &c_m, &BAD_NS));
    ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("cond.clockwait.monotonic.timeout", pthread_cond_clockwait(&c, &c_m, CLOCK_MONOTONIC, &ts));
    ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("cond.clockwait.realtime.timeout", pthread_cond_clockwait(&c, &c_m, CLOCK_REALTIME, &ts));
    CHECK("cond.clockwait.bad_clock",
          pthread_cond_clockwait(&c, &c_m, CLOCK_PROCESS_CPUTIME_ID, &ts));
    CHECK("cond.clockwait.bad_nsec", pthread_cond_clockwait(&c, &c_m, CLOCK_MONOTONIC, &BAD_NS));
  }
  pthread_mutex_unlock(&c_m);
  other("cond.after_timeouts.mutex_free", op_trylock_unlock, &c_m);

  /* A monotonic condvar (condattr clock) with timedwait. */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_t cm;
  CHECK("cond.monotonic_attr.init", pthread_cond_init(&cm, &ca));
  pthread_condattr_destroy(&ca);
  pthread_mutex_lock(&c_m);
  {
    struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("cond.monotonic_attr.timedwait.timeout", pthread_cond_timedwait(&cm, &c_m, &ts));
  }
  pthread_mutex_unlock(&c_m);
  CHECK("cond.monotonic_attr.destroy", pthread_cond_destroy(&cm));

  /* Errorcheck mutex not held: the wait fails with EPERM, does not wait. */
  {
    pthread_mutex_t em;
    init_kind(&em, ERRORCHECK);
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("cond.wait.errorcheck_not_held", pthread_cond_wait(&c, &em));
    CHECK("cond.timedwait.errorcheck_not_held", pthread_cond_timedwait(&c, &em, &ts));
    pthread_mutex_destroy(&em);
  }
  /* Signalled waits. */
  for (int timed = 0; timed <= 1; timed++) {
    pthread_t t;
    c_flag = 0;
    pthread_mutex_lock(&c_m);
    struct setter st = {&c_c, 0};
    pthread_create(&t, NULL, cond_setter, &st);
    rc = 0;
    while (!c_flag && rc == 0) {
      struct timespec ts = at(CLOCK_REALTIME, LONG_MS);
      errno = SENTINEL;
      rc = timed ? pthread_cond_timedwait(&c_c, &c_m, &ts) : pthread_cond_wait(&c_c, &c_m);
    }
    int e = errno;
    pthread_mutex_unlock(&c_m);
    report(timed ? "cond.timedwait.signalled" : "cond.wait.signalled", rc, e);
    printf("%-44s flag=%d\n", "cond.signalled.flag", c_flag);
    pthread_join(t, NULL);
  }
  CHECK("cond.destroy", pthread_cond_destroy(&c));
}

/* ------------------------------------------------------------------------
 * Old ABI: pthread_cond_*@GLIBC_2.2.5 etc. */

static void *poster_main(void *s) {
  sleep_ms(HOLD_MS);
  sem_post(s);
  return NULL;
}

static pthread_cond_t old_c;  /* storage; the old ABI uses its first word */
static int old_turn;

static void *old_pingpong(void *arg) {
  int me = (int)(intptr_t)arg;
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&c_m);
    while (old_turn != me)
      if (old_cond_wait(&old_c, &c_m) != 0) bad++;
    old_turn = 1 - me;
    if (old_cond_broadcast(&old_c) != 0) bad++;
    pthread_mutex_unlock(&c_m);
  }
  return (void *)(intptr_t)bad;
}

static void old_abi_checks(void) {
  memset(&old_c, 0xab, sizeof old_c);
  CHECK("old_abi.cond_init@2.2.5", old_cond_init(&old_c, NULL));
  /* The old init writes only the first word (a NULL pointer); the rest of
   * the object is not touched. The new one would clear the whole object. */
  unsigned char *b = (unsigned char *)&old_c;
  int tail_untouched = 1;
  for (size_t i = sizeof(void *); i < sizeof old_c; i++)
    if (b[i] != 0xab) tail_untouched = 0;
  printf("%-44s first_word_null=%d tail_untouched=%d\n", "old_abi.cond_init.layout",
         *(void **)&old_c == NULL, tail_untouched);

  pthread_t t[2];
  old_turn = 0;
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, old_pingpong, (void *)(intptr_t)i);
  long bad = 0;
  for (int i = 0; i < 2; i++) {
    void *r;
    pthread_join(t[i], &r);
    bad += (long)(intptr_t)r;
  }
  printf("%-44s failures=%ld turn=%d\n", "old_abi.cond_wait_broadcast.pingpong", bad, old_turn);
  /* The old implementation allocated the real condvar and keeps a pointer to
   * it in the first word. */
  uintptr_t first = *(uintptr_t *)&old_c;
  printf("%-44s inner_pointer=%d\n", "old_abi.cond.layout_after_wait", first > 65536);

  /* Signalled wait through the old ABI (signal from another thread). */
  {
    pthread_t s;
    c_flag = 0;
    pthread_mutex_lock(&c_m);
    struct setter st = {&old_c, 1};
    pthread_create(&s, NULL, cond_setter, &st);
    int rc = 0;
    errno = SENTINEL;
    while (!c_flag && rc == 0) rc = old_cond_wait(&old_c, &c_m);
    int e = errno;
    pthread_mutex_unlock(&c_m);
    report("old_abi.cond_wait.signalled@2.2.5", rc, e);
    pthread_join(s, NULL);
  }
  pthread_mutex_lock(&c_m);
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("old_abi.cond_timedwait.timeout@2.2.5", old_cond_timedwait(&old_c, &c_m, &ts));
    CHECK("old_abi.cond_timedwait.bad_nsec@2.2.5", old_cond_timedwait(&old_c, &c_m, &BAD_NS));
  }
  pthread_mutex_unlock(&c_m);
  CHECK("old_abi.cond_signal.no_waiters@2.2.5", old_cond_signal(&old_c));
  CHECK("old_abi.cond_broadcast.no_waiters@2.2.5", old_cond_broadcast(&old_c));
  CHECK("old_abi.cond_destroy@2.2.5", old_cond_destroy(&old_c));

  /* A zero-filled object is a valid old-ABI condvar too (inner pointer NULL). */
  {
    static pthread_cond_t zc;
    pthread_mutex_lock(&c_m);
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("old_abi.zero_filled.cond_timedwait@2.2.5", old_cond_timedwait(&zc, &c_m, &ts));
    pthread_mutex_unlock(&c_m);
    printf("%-44s inner_pointer=%d\n", "old_abi.zero_filled.layout_after_wait",
           *(uintptr_t *)&zc > 65536);
    CHECK("old_abi.zero_filled.cond_destroy@2.2.5", old_cond_destroy(&zc));
  }

  /* pthread_mutex_trylock@GLIBC_2.2.5, sem_wait@GLIBC_2.2.5. */
  {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    CHECK("old_abi.mutex_trylock.free@2.2.5", old_mutex_trylock(&m));
    other("old_abi.mutex_trylock.held.other@2.2.5", op_old_trylock, &m);
    CHECK("old_abi.mutex_trylock.held.self@2.2.5", old_mutex_trylock(&m));
    CHECK("old_abi.mutex_trylock.unlock", pthread_mutex_unlock(&m));
  }
  {
    sem_t s;
    sem_init(&s, 0, 1);
    CHECK("old_abi.sem_wait.available@2.2.5", old_sem_wait(&s));
    pthread_t t;
    pthread_create(&t, NULL, poster_main, &s);
    CHECK("old_abi.sem_wait.posted_later@2.2.5", old_sem_wait(&s));
    pthread_join(t, NULL);
    sem_destroy(&s);
  }
}

/* ------------------------------------------------------------------------
 * Semaphores */

static void on_usr1(int sig) { (void)sig; }

struct sem_intr {
  sem_t *s;
  int timed;
  volatile int done;
  int rc, err;
};
static void *sem_intr_main(void *p) {
  struct sem_intr *x = p;
  struct timespec ts = at(CLOCK_REALTIME, 60000);
  errno = SENTINEL;
  x->rc = x->timed ? sem_timedwait(x->s, &ts) : sem_wait(x->s);
  x->err = errno;
  __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void sem_checks(void) {
  sem_t s;
  int v = -1;
  CHECK("sem.init", sem_init(&s, 0, 0));
  CHECK("sem.trywait.zero", sem_trywait(&s));
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("sem.timedwait.zero.timeout", sem_timedwait(&s, &ts));
    CHECK("sem.timedwait.zero.past", sem_timedwait(&s, &PAST));
    CHECK("sem.timedwait.zero.bad_nsec", sem_timedwait(&s, &BAD_NS));
    ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("sem.clockwait.monotonic.timeout", sem_clockwait(&s, CLOCK_MONOTONIC, &ts));
    ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("sem.clockwait.realtime.timeout", sem_clockwait(&s, CLOCK_REALTIME, &ts));
    CHECK("sem.clockwait.zero.bad_clock", sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &ts));
  }
  CHECK("sem.post", sem_post(&s));
  /* Available: glibc validates the arguments first anyway. */
  CHECK("sem.timedwait.available.bad_nsec", sem_timedwait(&s, &BAD_NS));
  {
    struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("sem.clockwait.available.bad_clock", sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &ts));
  }
  sem_getvalue(&s, &v);
  printf("%-44s value=%d\n", "sem.getvalue.after_bad_args", v);
  CHECK("sem.wait.available", sem_wait(&s));
  CHECK("sem.post2", sem_post(&s));
  {
    struct timespec ts = at(CLOCK_REALTIME, SHORT_MS);
    CHECK("sem.timedwait.available", sem_timedwait(&s, &ts));
  }
  CHECK("sem.post3", sem_post(&s));
  {
    struct timespec ts = at(CLOCK_MONOTONIC, SHORT_MS);
    CHECK("sem.clockwait.available", sem_clockwait(&s, CLOCK_MONOTONIC, &ts));
  }
  {
    pthread_t t;
    pthread_create(&t, NULL, poster_main, &s);
    CHECK("sem.wait.posted_later", sem_wait(&s));
    pthread_join(t, NULL);
    pthread_create(&t, NULL, poster_main, &s);
    struct timespec ts = at(CLOCK_REALTIME, LONG_MS);
    CHECK("sem.timedwait.posted_later", sem_timedwait(&s, &ts));
    pthread_join(t, NULL);
    pthread_create(&t, NULL, poster_main, &s);
    ts = at(CLOCK_MONOTONIC, LONG_MS);
    CHECK("sem.clockwait.posted_later", sem_clockwait(&s, CLOCK_MONOTONIC, &ts));
    pthread_join(t, NULL);
  }
  /* Interrupted by a signal handler (installed without SA_RESTART): sem_wait
   * and sem_timedwait fail with EINTR. The signal is repeated until the
   * waiter returns, so the result does not depend on when it blocked. */
  {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    for (int timed = 0; timed <= 1; timed++) {
      struct sem_intr x = {&s, timed, 0, 0, 0};
      pthread_t t;
      pthread_create(&t, NULL, sem_intr_main, &x);
      while (!__atomic_load_n(&x.done, __ATOMIC_ACQUIRE)) {
        sleep_ms(5);
        pthread_kill(t, SIGUSR1);
      }
      pthread_join(t, NULL);
      report(timed ? "sem.timedwait.interrupted" : "sem.wait.interrupted", x.rc, x.err);
    }
  }
  sem_getvalue(&s, &v);
  printf("%-44s value=%d\n", "sem.getvalue.end", v);
  CHECK("sem.destroy", sem_destroy(&s));
}

/* ------------------------------------------------------------------------
 * pthread_join */

static void *ret_42(void *a) {
  (void)a;
  return (void *)(intptr_t)42;
}
static void *ret_after_hold(void *a) {
  (void)a;
  sleep_ms(HOLD_MS);
  return (void *)(intptr_t)43;
}

static void join_checks(void) {
  pthread_t t;
  void *ret = NULL;
  pthread_create(&t, NULL, ret_42, NULL);
  sleep_ms(HOLD_MS); /* finished by now, or join waits: same result */
  CHECK("join.finished", pthread_join(t, &ret));
  printf("%-44s value=%ld\n", "join.finished.retval", (long)(intptr_t)ret);
  pthread_create(&t, NULL, ret_after_hold, NULL);
  CHECK("join.running", pthread_join(t, &ret));
  printf("%-44s value=%ld\n", "join.running.retval", (long)(intptr_t)ret);
  pthread_create(&t, NULL, ret_42, NULL);
  CHECK("join.null_retval", pthread_join(t, NULL));
  CHECK("join.self", pthread_join(pthread_self(), NULL));
  pthread_create(&t, NULL, ret_after_hold, NULL);
  CHECK("tryjoin_np.running", pthread_tryjoin_np(t, NULL));
  {
    struct timespec ts = at(CLOCK_REALTIME, 1);
    CHECK("timedjoin_np.running.timeout", pthread_timedjoin_np(t, NULL, &ts));
  }
  CHECK("join.after_tryjoin", pthread_join(t, &ret));
  printf("%-44s value=%ld\n", "join.after_tryjoin.retval", (long)(intptr_t)ret);
}

int main(void) {
  alarm(120); /* a hang (e.g. an old-ABI caller sent to the new ABI) dies of SIGALRM */
  setvbuf(stdout, NULL, _IOLBF, 0);
  static pthread_mutex_t m;
  for (int k = 0; k < NKINDS; k++) mutex_checks(k, &m);
  mutex_owner_checks();
  robust_checks(&m);
  pshared_process_checks();
  rwlock_checks();
  cond_checks();
  old_abi_checks();
  sem_checks();
  join_checks();
  printf("done\n");
  return 0;
}
