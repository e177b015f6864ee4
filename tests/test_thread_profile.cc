// The threads and threadcreate profiles: grouping of threads into samples,
// the profile's Go shape (read back with the classes generated from
// proto/profile.proto), and a capture in this very process.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <map>
#include <mutex>
#include <pthread.h>
#include <set>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "pprof/thread_profile.h"
#include "profile.pb.h"
#include "record/cpu_sampler.h"
#include "record/thread_creation.h"
#include "record/thread_stacks.h"
#include "symbols/symbolizer.h"
#include "unwind/caller_stack.h"
#include "unwind/stack_walker.h"

namespace ppagent {
namespace {

ThreadSample sample(pid_t tid, const std::string& name, std::vector<uintptr_t> stack,
                    bool answered = true) {
  ThreadSample t;
  t.tid = tid;
  t.name = name;
  t.stack = std::move(stack);
  t.answered = answered;
  return t;
}

TEST(GroupThreads, OneGroupPerStackAndName) {
  std::vector<ThreadSample> threads = {
      sample(12, "worker", {0x1000, 0x2000}), sample(10, "worker", {0x1000, 0x2000}),
      sample(11, "worker", {0x1000, 0x2000}), sample(20, "io", {0x1000, 0x2000}),
      sample(30, "worker", {0x1000, 0x3000}),
  };
  std::vector<ThreadGroup> groups = group_threads(threads);
  ASSERT_EQ(groups.size(), 3u);
  // Most threads first.
  EXPECT_EQ(groups[0].thread_name, "worker");
  EXPECT_EQ(groups[0].count, 3);
  EXPECT_EQ(groups[0].tids, (std::vector<pid_t>{10, 11, 12}));
  EXPECT_EQ(groups[0].stack, (std::vector<uintptr_t>{0x1000, 0x2000}));
  int64_t total = 0;
  for (const ThreadGroup& g : groups) {
    total += g.count;
    EXPECT_EQ(static_cast<size_t>(g.count), g.tids.size());
  }
  EXPECT_EQ(total, 5);
}

TEST(GroupThreads, UnansweredThreadsGroupByNameWithoutStack) {
  std::vector<ThreadSample> threads = {
      sample(1, "stuck", {0x1000}, false), sample(2, "stuck", {0x2000}, false),
      sample(3, "stuck", {0x1000}, true),
  };
  std::vector<ThreadGroup> groups = group_threads(threads);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_FALSE(groups[0].answered);
  EXPECT_EQ(groups[0].count, 2);
  EXPECT_TRUE(groups[0].stack.empty());
  EXPECT_TRUE(groups[1].answered);
  EXPECT_EQ(groups[1].tids, (std::vector<pid_t>{3}));
}

TEST(GroupThreads, EmptyIsEmpty) { EXPECT_TRUE(group_threads({}).empty()); }

extern "C" __attribute__((noinline)) uintptr_t thread_profile_test_site() {
  return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

std::string function_name(const pb::Profile& p, uint64_t location_id) {
  const pb::Location& loc = p.location(static_cast<int>(location_id) - 1);
  if (loc.line_size() == 0) return "";
  const pb::Function& f =
      p.function(static_cast<int>(loc.line(loc.line_size() - 1).function_id()) - 1);
  return p.string_table(static_cast<int>(f.name()));
}

TEST(BuildThreadProfile, GoShapeWithThreadLabels) {
  uintptr_t ra = thread_profile_test_site();
  std::vector<ThreadSample> threads = {
      sample(7, "pool", {ra}), sample(5, "pool", {ra}), sample(9, "hung", {}, false)};
  Symbolizer symbolizer;
  for (auto kind : {ThreadProfileKind::kThreads, ThreadProfileKind::kThreadCreate}) {
    const std::string type = kind == ThreadProfileKind::kThreads ? "goroutine" : "threadcreate";
    pb::Profile p;
    ASSERT_TRUE(p.ParseFromString(
        build_thread_profile(group_threads(threads), kind, 4242, &symbolizer, 123)));
    auto s = [&p](int64_t i) { return p.string_table(static_cast<int>(i)); };
    ASSERT_EQ(p.sample_type_size(), 1);
    EXPECT_EQ(s(p.sample_type(0).type()), type);
    EXPECT_EQ(s(p.sample_type(0).unit()), "count");
    EXPECT_EQ(s(p.period_type().type()), type);
    EXPECT_EQ(s(p.period_type().unit()), "count");
    EXPECT_EQ(p.period(), 1);
    EXPECT_EQ(p.time_nanos(), 4242);
    EXPECT_EQ(p.string_table(0), "");

    ASSERT_EQ(p.sample_size(), 2);
    const pb::Sample& pool = p.sample(0);
    ASSERT_EQ(pool.value_size(), 1);
    EXPECT_EQ(pool.value(0), 2);
    std::string name;
    std::vector<std::string> ids;
    for (const pb::Label& l : pool.label()) {
      if (s(l.key()) == "thread_name") name = s(l.str());
      if (s(l.key()) == "thread_id") ids.push_back(s(l.str()));
    }
    EXPECT_EQ(name, "pool");
    EXPECT_EQ(ids, (std::vector<std::string>{"5", "7"}));
    ASSERT_EQ(pool.location_id_size(), 1);
    // For a single-frame thread stack the pc is where it was, so is looked up as
    // it is; as a creation stack it is a return address. Both are in this test.
    EXPECT_NE(function_name(p, pool.location_id(0)).find("GoShapeWithThreadLabels"),
              std::string::npos)
        << function_name(p, pool.location_id(0));

    const pb::Sample& hung = p.sample(1);
    EXPECT_EQ(hung.value(0), 1);
    ASSERT_EQ(hung.location_id_size(), 1);
    EXPECT_EQ(function_name(p, hung.location_id(0)), "[thread did not answer within 123 ms]");
  }
}

// ---- a capture in this process ---------------------------------------------

pid_t gettid_now() { return static_cast<pid_t>(syscall(SYS_gettid)); }

struct Fixture {
  ModuleTables tables;
  Fixture() {
    tables.refresh(true);
    note_current_thread_stack();
    init_caller_stack();
    init_thread_stacks(&tables, &CpuSampler::install_handler, &cpu_signal);
    // The agent's default choice, as at its start (agent.cc).
    CpuSampler::choose_signal(0, SIGUSR2);
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

std::mutex g_mutex;
std::condition_variable g_cv;
bool g_release = false;

extern "C" __attribute__((noinline)) void thread_profile_wait_here() {
  std::unique_lock<std::mutex> lock(g_mutex);
  g_cv.wait(lock, [] { return g_release; });
  asm volatile("" ::: "memory");
}

bool has_function(const ThreadSample& t, Symbolizer* symbolizer, const std::string& name) {
  for (size_t i = 0; i < t.stack.size(); i++)
    for (const SourceFrame& f : symbolizer->frames(i ? t.stack[i] - 1 : t.stack[i]))
      if (f.name.find(name) != std::string::npos) return true;
  return false;
}

TEST(CaptureThreadStacks, WaitingSleepingAndCpuSignalBlockedThreads) {
  fixture();
  const int cpu = cpu_signal();
  ASSERT_EQ(cpu, SIGRTMAX) << "nothing in this test handles SIGRTMAX";
  std::atomic<pid_t> waiter_tid{0}, sleeper_tid{0}, blocked_tid{0};
  std::atomic<int> sleep_rc{-2}, sleep_errno{0};
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);

  std::thread waiter([&] {
    waiter_tid = gettid_now();
    thread_profile_wait_here();
  });
  std::thread sleeper([&] {
    sleeper_tid = gettid_now();
    struct timespec d = {1, 500000000};
    int rc = nanosleep(&d, nullptr);
    sleep_errno = errno;
    sleep_rc = rc;
  });
  std::thread blocked([&] {
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, cpu);
    pthread_sigmask(SIG_BLOCK, &prof, nullptr);
    blocked_tid = gettid_now();
    char byte;
    ssize_t ignored = read(pipe_fds[0], &byte, 1);
    (void)ignored;
  });
  while (!waiter_tid || !sleeper_tid || !blocked_tid) std::this_thread::yield();
  struct timespec settle = {0, 200000000};
  nanosleep(&settle, nullptr);

  Symbolizer symbolizer;
  for (int round = 0; round < 5; round++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    std::vector<ThreadSample> threads = capture_thread_stacks(100);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    EXPECT_LT(took, 5.0) << "the capture must end near its deadline";
    std::map<pid_t, const ThreadSample*> by_tid;
    for (const ThreadSample& t : threads) by_tid[t.tid] = &t;
    ASSERT_TRUE(by_tid.count(waiter_tid) && by_tid.count(sleeper_tid) && by_tid.count(blocked_tid))
        << threads.size() << " threads";
    EXPECT_TRUE(by_tid[waiter_tid]->answered);
    EXPECT_TRUE(has_function(*by_tid[waiter_tid], &symbolizer, "thread_profile_wait_here"));
    EXPECT_TRUE(by_tid[sleeper_tid]->answered);  // from outside: it is in nanosleep
    EXPECT_TRUE(has_function(*by_tid[sleeper_tid], &symbolizer, "WaitingSleepingAndCpuSignalBlocked"));
    EXPECT_FALSE(by_tid[blocked_tid]->answered);
    // This thread is the capturing one: it answers its own request.
    ASSERT_TRUE(by_tid.count(gettid_now()));
    EXPECT_TRUE(by_tid[gettid_now()]->answered);
  }

  sleeper.join();
  EXPECT_EQ(sleep_rc.load(), 0) << "nanosleep was cut short: " << strerror(sleep_errno);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_release = true;
  }
  g_cv.notify_all();
  waiter.join();
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  blocked.join();
}

TEST(LiveThreadCreationStacks, RegisteredUntilTheThreadEnds) {
  fixture();
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  uintptr_t ra = thread_profile_test_site();
  std::thread t([&] {
    note_thread_created({ra});
    tid = gettid_now();
    while (!stop) std::this_thread::yield();
    note_thread_ended();
  });
  while (!tid) std::this_thread::yield();
  std::vector<ThreadSample> live = live_thread_creation_stacks();
  auto found = std::find_if(live.begin(), live.end(),
                            [&](const ThreadSample& s) { return s.tid == tid; });
  ASSERT_NE(found, live.end());
  EXPECT_EQ(found->stack, (std::vector<uintptr_t>{ra}));
  EXPECT_FALSE(found->name.empty());
  stop = true;
  t.join();
  live = live_thread_creation_stacks();
  EXPECT_TRUE(std::none_of(live.begin(), live.end(),
                           [&](const ThreadSample& s) { return s.tid == tid; }));
}

}  // namespace
}  // namespace ppagent
