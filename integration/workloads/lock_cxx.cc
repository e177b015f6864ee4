// lock_cxx: contention through the C++ standard library (libstdc++, g++ 12),
// which reaches the pthread functions the agent interposes:
//   std::mutex              -> pthread_mutex_lock / pthread_mutex_unlock
//   std::condition_variable -> pthread_cond_wait
//   std::shared_mutex       -> pthread_rwlock_rdlock / wrlock / unlock
// Three phases, one after the other; each measures its own waiting with
// std::chrono::steady_clock (CLOCK_MONOTONIC) around the blocking call and
// prints the sum in nanoseconds:
//   cxx_mutex_wait_ns=   4 threads x 100 rounds, each holding a std::mutex
//                        1 ms; waiting in cxx_mutex_wait(), releasing in
//                        cxx_mutex_release().
//   cxx_cv_wait_ns=      two threads passing a turn through a
//                        std::condition_variable 200 times, 500 us of work per
//                        turn; waiting in cxx_cv_wait().
//   cxx_shared_wait_ns=  a writer holds a std::shared_mutex exclusively 2 ms
//                        while 3 readers block in cxx_shared_wait()
//                        (lock_shared); the writer releases in
//                        cxx_shared_release(); 50 rounds.
// For the std::mutex and std::shared_mutex phases it also prints
// cxx_mutex_wait_until_release_ns= / cxx_shared_wait_until_release_ns=: the
// same waits, each counted only up to the unlock that ended it (the releaser
// timestamps its unlock), i.e. without the waiter's wake-up latency, which
// Go's mutex profile charges to no release.
// The function names are extern "C" so that every reader sees them verbatim.
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#define NOINLINE __attribute__((noinline, noclone))
#define BARRIER() __asm__ volatile("" ::: "memory")

namespace {
using Clock = std::chrono::steady_clock;

int64_t since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

std::mutex g_mutex;
std::mutex g_cv_mutex;
std::condition_variable g_cv;
int g_turn = 0;
std::shared_mutex g_shared;
pthread_barrier_t g_in, g_out;
// Time of the last unlock (written just before it, read after the next lock).
Clock::time_point g_last_release;

struct Waited {
  int64_t total = 0, until_release = 0;
  void add(Clock::time_point t0) {
    total += since(t0);
    if (g_last_release > t0)
      until_release +=
          std::chrono::duration_cast<std::chrono::nanoseconds>(g_last_release - t0).count();
  }
};
}  // namespace

extern "C" {

NOINLINE void cxx_mutex_wait(std::mutex *m, Waited *w) {
  auto t0 = Clock::now();
  m->lock();
  w->add(t0);
  BARRIER();
}

NOINLINE void cxx_mutex_release(std::mutex *m) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  g_last_release = Clock::now();
  m->unlock();
  BARRIER();
}

NOINLINE int64_t cxx_cv_wait(std::unique_lock<std::mutex> *lk, int me) {
  int64_t w = 0;
  while (g_turn != me) {
    auto t0 = Clock::now();
    g_cv.wait(*lk);
    w += since(t0);
  }
  BARRIER();
  return w;
}

NOINLINE void cxx_shared_wait(std::shared_mutex *m, Waited *w) {
  auto t0 = Clock::now();
  m->lock_shared();
  w->add(t0);
  BARRIER();
}

NOINLINE void cxx_shared_release(std::shared_mutex *m) {
  g_last_release = Clock::now();
  m->unlock();
  BARRIER();
}

}  // extern "C"

int main() {
  // std::mutex
  {
    std::vector<std::thread> ts;
    std::vector<Waited> waited(4);
    g_last_release = Clock::time_point();
    pthread_barrier_init(&g_in, nullptr, 4);
    for (int i = 0; i < 4; i++)
      ts.emplace_back([i, &waited] {
        pthread_barrier_wait(&g_in);
        for (int r = 0; r < 100; r++) {
          cxx_mutex_wait(&g_mutex, &waited[i]);
          cxx_mutex_release(&g_mutex);
        }
      });
    Waited sum;
    for (int i = 0; i < 4; i++) {
      ts[i].join();
      sum.total += waited[i].total;
      sum.until_release += waited[i].until_release;
    }
    pthread_barrier_destroy(&g_in);
    std::printf("cxx_mutex_wait_ns=%lld\n", (long long)sum.total);
    std::printf("cxx_mutex_wait_until_release_ns=%lld\n", (long long)sum.until_release);
  }
  // std::condition_variable
  {
    int64_t waited[2] = {0, 0};
    std::vector<std::thread> ts;
    for (int me = 0; me < 2; me++)
      ts.emplace_back([me, &waited] {
        for (int r = 0; r < 200; r++) {
          {
            std::unique_lock<std::mutex> lk(g_cv_mutex);
            waited[me] += cxx_cv_wait(&lk, me);
          }
          std::this_thread::sleep_for(std::chrono::microseconds(500));
          {
            std::lock_guard<std::mutex> lk(g_cv_mutex);
            g_turn = 1 - me;
          }
          g_cv.notify_one();
        }
      });
    for (auto &t : ts) t.join();
    std::printf("cxx_cv_wait_ns=%lld\n", (long long)(waited[0] + waited[1]));
  }
  // std::shared_mutex
  {
    const int readers = 3, rounds = 50;
    std::vector<Waited> waited(readers);
    g_last_release = Clock::time_point();
    pthread_barrier_init(&g_in, nullptr, readers + 1);
    pthread_barrier_init(&g_out, nullptr, readers + 1);
    std::vector<std::thread> ts;
    for (int i = 0; i < readers; i++)
      ts.emplace_back([i, &waited] {
        for (int r = 0; r < rounds; r++) {
          pthread_barrier_wait(&g_in);
          cxx_shared_wait(&g_shared, &waited[i]);
          g_shared.unlock_shared();
          pthread_barrier_wait(&g_out);
        }
      });
    for (int r = 0; r < rounds; r++) {
      g_shared.lock();
      pthread_barrier_wait(&g_in);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      cxx_shared_release(&g_shared);
      pthread_barrier_wait(&g_out);
    }
    Waited sum;
    for (int i = 0; i < readers; i++) {
      ts[i].join();
      sum.total += waited[i].total;
      sum.until_release += waited[i].until_release;
    }
    std::printf("cxx_shared_wait_ns=%lld\n", (long long)sum.total);
    std::printf("cxx_shared_wait_until_release_ns=%lld\n", (long long)sum.until_release);
  }
  return 0;
}
