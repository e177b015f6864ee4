// The wall profile: system call names, traces told apart by state, the
// profile's shape and labels (read back with the classes generated from
// proto/profile.proto), and the sampler on a thread of this process blocked
// in read(2), unwound from outside.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cstdio>
#include <map>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "base/agent_threads.h"
#include "base/syscall_names.h"
#include "pprof/wall_profile.h"
#include "profile.pb.h"
#include "record/trace_store.h"
#include "record/wall_sampler.h"
#include "symbols/symbolizer.h"
#include "unwind/stack_walker.h"

namespace ppagent {
namespace {

TEST(SyscallNames, CommonCallsByNameOthersByNumber) {
  EXPECT_EQ(syscall_name(SYS_futex), "futex");
  EXPECT_EQ(syscall_name(SYS_read), "read");
  EXPECT_EQ(syscall_name(SYS_epoll_wait), "epoll_wait");
  EXPECT_EQ(syscall_name(SYS_clock_nanosleep), "clock_nanosleep");
  EXPECT_EQ(syscall_name(SYS_fsync), "fsync");
  EXPECT_EQ(syscall_name(4321), "syscall_4321");
}

TraceKey key_of(int tid, const std::vector<uintptr_t>& pcs, int32_t tag) {
  TraceKey k;
  k.tid = tid;
  memset(k.thread_name, 0, sizeof k.thread_name);
  strcpy(k.thread_name, "t");
  k.pcs = pcs.data();
  k.depth = static_cast<int>(pcs.size());
  k.tag = tag;
  return k;
}

TEST(WallTraces, TheStateTellsTracesApart) {
  TraceStore store(64, 256);
  ASSERT_TRUE(store.ok());
  const std::vector<uintptr_t> stack = {0x10, 0x20};
  store.add(key_of(1, stack, kWallRunning), 10);
  store.add(key_of(1, stack, SYS_read), 20);
  store.add(key_of(1, stack, SYS_read), 5);
  std::map<int32_t, uint64_t> by_tag;
  for (const WallTrace& t : collect_cpu_traces(store)) by_tag[t.tag] += t.weight;
  EXPECT_EQ(by_tag, (std::map<int32_t, uint64_t>{{kWallRunning, 10}, {SYS_read, 25}}));
}

std::map<std::string, std::string> labels_of(const pb::Profile& p, const pb::Sample& s) {
  std::map<std::string, std::string> out;
  for (const pb::Label& l : s.label())
    out[p.string_table(static_cast<int>(l.key()))] = p.string_table(static_cast<int>(l.str()));
  return out;
}

TEST(BuildWallProfile, ShapeLabelsAndComments) {
  std::vector<WallTrace> traces(3);
  traces[0] = WallTrace{5, "io", {0x1000}, 3, 30000000, SYS_read};
  traces[1] = WallTrace{6, "cpu", {0x1000}, 2, 20000000, kWallRunning};
  traces[2] = WallTrace{7, "deaf", {}, 1, 100000000, kWallRunning};
  WallProfileParams params;
  params.hz = 100;
  params.start_unix_ns = 4242;
  params.duration_ns = 555;
  params.skipped_samples = 17;
  Symbolizer symbolizer;
  pb::Profile p;
  ASSERT_TRUE(p.ParseFromString(build_wall_profile(traces, params, &symbolizer)));
  auto s = [&p](int64_t i) { return p.string_table(static_cast<int>(i)); };
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(s(p.sample_type(0).type()), "samples");
  EXPECT_EQ(s(p.sample_type(0).unit()), "count");
  EXPECT_EQ(s(p.sample_type(1).type()), "wall");
  EXPECT_EQ(s(p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(s(p.period_type().type()), "wall");
  EXPECT_EQ(s(p.period_type().unit()), "nanoseconds");
  EXPECT_EQ(p.period(), 10000000);
  EXPECT_EQ(p.time_nanos(), 4242);
  EXPECT_EQ(p.duration_nanos(), 555);
  std::vector<std::string> comments;
  for (int64_t c : p.comment()) comments.push_back(s(c));
  EXPECT_NE(std::find(comments.begin(), comments.end(),
                      "wall: 17 thread samples skipped: ticks over budget"),
            comments.end());

  ASSERT_EQ(p.sample_size(), 3);
  EXPECT_EQ(p.sample(0).value(0), 3);
  EXPECT_EQ(p.sample(0).value(1), 30000000);
  EXPECT_EQ(labels_of(p, p.sample(0)),
            (std::map<std::string, std::string>{{"thread_id", "5"}, {"thread_name", "io"},
                                                {"state", "syscall"}, {"syscall", "read"}}));
  EXPECT_EQ(labels_of(p, p.sample(1)),
            (std::map<std::string, std::string>{{"thread_id", "6"}, {"thread_name", "cpu"},
                                                {"state", "running"}}));
  // A thread without a stack still counts, under a frame that says why.
  ASSERT_EQ(p.sample(2).location_id_size(), 1);
  const pb::Location& loc = p.location(static_cast<int>(p.sample(2).location_id(0)) - 1);
  ASSERT_EQ(loc.line_size(), 1);
  EXPECT_EQ(s(p.function(static_cast<int>(loc.line(0).function_id()) - 1).name()),
            "[running thread did not answer]");
}

// ---- the sampler in this process ------------------------------------------

extern "C" __attribute__((noinline)) ssize_t wall_test_blocked_read(int fd, char* c) {
  ssize_t n = read(fd, c, 1);
  __asm__ volatile("" ::: "memory");  // not a tail call: this frame stays
  return n;
}

TEST(WallSampler, AThreadBlockedInReadIsUnwoundFromOutside) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> reader_tid{0};
  ssize_t got = 0;
  char byte = 0;
  std::thread reader([&] {
    reader_tid = static_cast<pid_t>(syscall(SYS_gettid));
    got = wall_test_blocked_read(fds[0], &byte);
  });
  while (reader_tid == 0) usleep(1000);
  usleep(20000);

  ModuleTables tables;
  tables.refresh(true);
  TraceStore store(1024, 65536);
  std::thread sampler([&] {
    note_agent_thread();  // as the agent's: never samples itself
    WallSampler::run(100, &store, &tables);
    forget_agent_thread();
  });
  usleep(500000);
  WallSampler::stop();
  sampler.join();
  ASSERT_EQ(write(fds[1], "y", 1), 1);
  reader.join();
  EXPECT_EQ(got, 1);  // the read was not cut short
  EXPECT_EQ(byte, 'y');
  close(fds[0]);
  close(fds[1]);

  uint64_t in_read = 0, with_frame = 0, samples = 0;
  Symbolizer symbolizer;
  for (const WallTrace& t : collect_cpu_traces(store)) {
    if (t.tid != reader_tid) continue;
    EXPECT_EQ(t.tag, SYS_read);
    in_read += t.weight;
    samples += t.samples;
    bool found = false;
    for (size_t i = 0; i < t.stack.size(); i++)
      for (const SourceFrame& f : symbolizer.frames(t.stack[i] - (i > 0 ? 1 : 0)))
        found = found || f.name.find("wall_test_blocked_read") != std::string::npos;
    if (found) with_frame += t.weight;
  }
  // About half a second; a thread that does not run is looked at on every
  // eighth tick at least (50 ticks).
  EXPECT_GE(samples, 6u);
  EXPECT_NEAR(static_cast<double>(in_read), 0.5e9, 0.1e9);
  EXPECT_EQ(with_frame, in_read);
  WallSampler::child_after_fork();  // as in a new process: a sampler may run again
}

// Many threads at a high rate: a tick cannot look at all of them in its
// time, so some wait for later ticks, but no thread's time is lost.
TEST(WallSampler, ManyThreadsKeepTheirTimeWhenTicksRunOutOfTime) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  constexpr int kThreads = 200;
  std::atomic<int> started{0};
  std::vector<std::thread> readers;
  std::vector<pid_t> tids(kThreads);
  for (int i = 0; i < kThreads; i++)
    readers.emplace_back([&, i] {
      tids[i] = static_cast<pid_t>(syscall(SYS_gettid));
      started++;
      char c;
      EXPECT_EQ(wall_test_blocked_read(fds[0], &c), 1);
    });
  while (started < kThreads) usleep(1000);
  usleep(20000);

  ModuleTables tables;
  tables.refresh(true);
  TraceStore store(16384, 1 << 20);
  const uint64_t skipped_before = WallSampler::skipped_samples();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  std::thread sampler([&] {
    note_agent_thread();
    WallSampler::run(1000, &store, &tables);
    forget_agent_thread();
  });
  usleep(600000);
  WallSampler::stop();
  sampler.join();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const double elapsed = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  std::vector<char> bytes(kThreads, 'z');
  ASSERT_EQ(write(fds[1], bytes.data(), bytes.size()), kThreads);
  for (std::thread& t : readers) t.join();
  close(fds[0]);
  close(fds[1]);

  std::map<pid_t, uint64_t> by_tid;
  for (const WallTrace& t : collect_cpu_traces(store)) by_tid[t.tid] += t.weight;
  for (pid_t tid : tids) {
    // Each thread's time: the sampler's run, less at most its first tick
    // and its last looks' gap (8 ticks of 1 ms).
    EXPECT_NEAR(by_tid[tid] / 1e9, elapsed, 0.1 * elapsed) << tid;
  }
  printf("%llu thread samples left for later ticks\n",
         static_cast<unsigned long long>(WallSampler::skipped_samples() - skipped_before));
  WallSampler::child_after_fork();
}

}  // namespace
}  // namespace ppagent
