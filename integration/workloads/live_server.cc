// live_server: a long-running program for the tests of the live /debug/pprof
// endpoint (integration/test_http*.py). It runs until SIGTERM or SIGINT, then
// stops its threads, prints "bye" and exits 0. Each kind of profile has a
// thread doing something at a known function (extern "C", noinline, so every
// reader shows the name verbatim):
//   burn-alpha, burn-beta  CPU work in burn_alpha() / burn_beta(), about a
//                          third of a core each (a 2-core test machine must
//                          still serve requests)
//   keeper                 keep_blocks(): allocates 64 KiB blocks and keeps
//                          the last 256 of them (16 MiB in use, ~200 new
//                          blocks per second, so heap deltas have samples);
//                          all 256 are kept before "ready"
//   locker-0..2            contend on one std::mutex: wait in mutex_waiter(),
//                          hold it 1 ms (sleeping) in mutex_holder(), which
//                          releases it
//   sleeper                blocked in wait_on_condition() (a
//                          std::condition_variable wait) until shutdown
//   spawner                spawn_from_spawner() creates the thread "spawned"
//                          (for threadcreate), which sleeps until shutdown
// The process's own progress (rounds of burn_alpha and keep_blocks) is written
// as a decimal number to the file given with --progress FILE, every 50 ms, so a
// test can see that the program's work goes on while it is being profiled.
// stdout: "ready" once every thread runs, "bye" at the end; nothing that
// depends on timing, so a run with the agent prints exactly what a run without
// it prints.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#define NOINLINE __attribute__((noinline, noclone))
// After a call: keeps the caller's frame on the stack (no jump instead of the
// call), so the function shows up in the stacks the agent records.
#define NO_TAIL_CALL() __asm__ volatile("" ::: "memory")

namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_signalled = 0;
std::atomic<bool> g_stop{false};
std::atomic<long> g_progress{0};
std::atomic<int> g_running{0};

std::mutex g_contended;

std::mutex g_sleep_mutex;
std::condition_variable g_sleep_cv;

void on_signal(int) { g_signalled = 1; }

void name_self(const char* name) { pthread_setname_np(pthread_self(), name); }

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Spin for `ms` of wall time; the arithmetic keeps the loop from being
// optimized away.
NOINLINE double spin_for(int ms, double x) {
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end)
    for (int i = 0; i < 2000; i++) x = x * 1.0000001 + 0.5 / (x + 1.0);
  return x;
}

}  // namespace

extern "C" {

NOINLINE double burn_alpha(double x) {
  x = spin_for(3, x + 1.0);
  NO_TAIL_CALL();
  return x;
}
NOINLINE double burn_beta(double x) {
  x = spin_for(3, x + 2.0);
  NO_TAIL_CALL();
  return x;
}

// One round: a new 64 KiB block replaces the oldest of the 256 kept.
NOINLINE void keep_blocks(std::vector<char*>* kept, size_t* next) {
  const size_t kBlock = 64 * 1024;
  char* block = static_cast<char*>(malloc(kBlock));
  memset(block, static_cast<int>(*next), kBlock);  // touch it: really used memory
  if (kept->size() < 256) {
    kept->push_back(block);
  } else {
    free((*kept)[*next % 256]);
    (*kept)[*next % 256] = block;
  }
  ++*next;
}

// Holds the contended mutex for 1 ms and releases it here, so the mutex
// profile (charged at the release) shows this function.
NOINLINE void mutex_holder() {
  sleep_ms(1);
  g_contended.unlock();
  NO_TAIL_CALL();
}

// Waits for the contended mutex here, so the block profile shows this function.
NOINLINE void mutex_waiter() {
  g_contended.lock();
  mutex_holder();
  NO_TAIL_CALL();
}

NOINLINE void wait_on_condition() {
  std::unique_lock<std::mutex> lock(g_sleep_mutex);
  g_sleep_cv.wait(lock, [] { return g_stop.load(); });
}

NOINLINE std::thread spawn_from_spawner() {
  return std::thread([] {
    name_self("spawned");
    g_running++;
    wait_on_condition();
  });
}

}  // extern "C"

namespace {

void burner(const char* name, double (*burn)(double), bool counts) {
  name_self(name);
  g_running++;
  double x = 1.0;
  while (!g_stop) {
    x = burn(x);
    if (counts) g_progress++;
    sleep_ms(6);
  }
  if (x == 42.0) puts("");  // keeps x alive; never true
}

void keeper() {
  name_self("keeper");
  std::vector<char*> kept;
  size_t next = 0;
  while (!g_stop) {
    keep_blocks(&kept, &next);
    // Counted as running once all 256 blocks are kept: from "ready" on, the
    // heap holds its full 16 MiB.
    if (next == 256) g_running++;
    g_progress++;
    sleep_ms(5);
  }
  if (next < 256) g_running++;
  for (char* b : kept) free(b);
}

void locker(int i) {
  char name[16];
  snprintf(name, sizeof name, "locker-%d", i);
  name_self(name);
  g_running++;
  while (!g_stop) mutex_waiter();
}

void sleeper() {
  name_self("sleeper");
  g_running++;
  wait_on_condition();
}

void spawner() {
  name_self("spawner");
  g_running++;
  std::thread spawned = spawn_from_spawner();
  wait_on_condition();
  spawned.join();
}

void write_progress(int fd) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", g_progress.load());
  if (pwrite(fd, buf, n, 0) == n) (void)ftruncate(fd, n);
}

}  // namespace

int main(int argc, char** argv) {
  const char* progress_path = nullptr;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--progress") == 0 && i + 1 < argc) {
      progress_path = argv[++i];
    } else {
      fprintf(stderr, "usage: %s [--progress FILE]\n", argv[0]);
      return 2;
    }
  }
  int progress_fd = -1;
  if (progress_path) {
    progress_fd = open(progress_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (progress_fd < 0) {
      perror(progress_path);
      return 1;
    }
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  std::vector<std::thread> threads;
  threads.emplace_back(burner, "burn-alpha", burn_alpha, true);
  threads.emplace_back(burner, "burn-beta", burn_beta, false);
  threads.emplace_back(keeper);
  for (int i = 0; i < 3; i++) threads.emplace_back(locker, i);
  threads.emplace_back(sleeper);
  threads.emplace_back(spawner);
  const int kThreads = 9;  // the above and "spawned"

  while (g_running < kThreads && !g_signalled) sleep_ms(1);
  if (progress_fd >= 0) write_progress(progress_fd);
  puts("ready");
  fflush(stdout);

  while (!g_signalled) {
    sleep_ms(50);
    if (progress_fd >= 0) write_progress(progress_fd);
  }

  {
    std::lock_guard<std::mutex> lock(g_sleep_mutex);
    g_stop = true;
  }
  g_sleep_cv.notify_all();
  for (auto& t : threads) t.join();
  if (progress_fd >= 0) {
    write_progress(progress_fd);
    close(progress_fd);
  }
  puts("bye");
  return 0;
}
