// inline_helper SECONDS
//
// Built with -g -O2. Nearly all CPU is spent in work::mix_step(), an
// always-inline helper, inlined into hot_loop(). The test finds the line
// numbers below by their markers (so editing this file cannot silently break
// it): the profile must show the helper as an inline frame inside hot_loop,
// with this file's name and a line of the helper's body, and hot_loop's line
// must be the call site.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace work {

__attribute__((always_inline)) inline std::uint64_t mix_step(std::uint64_t x, int rounds) {  // MARK:helper_begin
  for (int i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x *= 0x9E3779B97F4A7C15ull;
  }
  return x;
}  // MARK:helper_end

}  // namespace work

static volatile std::uint64_t sink;

static std::uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

__attribute__((noinline)) std::uint64_t hot_loop(std::uint64_t ns) {
  std::uint64_t start = thread_cpu_ns();
  std::uint64_t x = sink | 1;
  do {
    x = work::mix_step(x, 200000);  // MARK:callsite
    sink = x;
  } while (thread_cpu_ns() - start < ns);
  return x;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: inline_helper SECONDS\n");
    return 2;
  }
  hot_loop(std::uint64_t(std::atof(argv[1]) * 1e9));
  std::printf("done\n");
  return 0;
}
