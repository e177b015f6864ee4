#include "base/agent_wakeup.h"

#include <atomic>
#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ppagent {

namespace {

std::atomic<uint64_t> g_pending{0};
// Bumped on every post; the thread sleeps on it (futex), so a post between the
// thread's check and its sleep changes the word and the sleep returns at once.
std::atomic<uint32_t> g_post_count{0};
// Bumped each time the thread has served what was pending; crashing threads
// sleep on it.
std::atomic<uint32_t> g_served{0};

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const struct timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, value,
                 timeout, nullptr, 0);
}

int64_t monotonic_ms() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// Sleeps while *word == expected, at most until `deadline_ms` (monotonic).
// False once the deadline has passed.
bool sleep_while_equal(std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ms) {
  int64_t left = deadline_ms - monotonic_ms();
  if (left <= 0) return false;
  struct timespec timeout = {static_cast<time_t>(left / 1000), static_cast<long>(left % 1000) * 1000000};
  futex(word, FUTEX_WAIT, expected, &timeout);
  return true;
}

}  // namespace

void wakeup_post(int signo) {
  if (signo < 1 || signo > 64) return;
  int saved_errno = errno;
  g_pending.fetch_or(signal_bit(signo));
  g_post_count.fetch_add(1);
  futex(&g_post_count, FUTEX_WAKE, 1, nullptr);
  errno = saved_errno;
}

void wakeup_nudge() {
  int saved_errno = errno;
  g_post_count.fetch_add(1);
  futex(&g_post_count, FUTEX_WAKE, 1, nullptr);
  errno = saved_errno;
}

uint64_t wakeup_wait(int timeout_ms) {
  const int64_t deadline = monotonic_ms() + timeout_ms;
  uint32_t seen = g_post_count.load();
  for (;;) {
    uint64_t pending = g_pending.exchange(0);
    if (pending != 0) return pending;
    const uint32_t now = g_post_count.load();
    if (now != seen) return 0;  // a nudge (a post's bit was taken just above)
    if (!sleep_while_equal(&g_post_count, seen, deadline)) return 0;
  }
}

uint32_t wakeup_served_generation() { return g_served.load(); }

bool wakeup_wait_served(uint32_t generation, int timeout_ms) {
  int saved_errno = errno;
  const int64_t deadline = monotonic_ms() + timeout_ms;
  bool served = false;
  for (;;) {
    uint32_t now = g_served.load();
    if (now != generation) {
      served = true;
      break;
    }
    if (!sleep_while_equal(&g_served, now, deadline)) break;
  }
  errno = saved_errno;
  return served;
}

void wakeup_mark_served() {
  g_served.fetch_add(1);
  futex(&g_served, FUTEX_WAKE, INT32_MAX, nullptr);
}

void wakeup_reset() {
  g_pending.store(0);
  g_post_count.store(0);
  g_served.store(0);
}

}  // namespace ppagent
