// jemalloc's heap_v2 dump (prof.dump) read into heap buckets.
#include "record/jemalloc_dump.h"

#include <gtest/gtest.h>

#include "record/jemalloc_rate.h"

namespace ppagent {
namespace {

// The shape jemalloc 5.3.0 writes: header totals, per-thread totals, then per
// backtrace its totals and per-thread lines, then the process's maps.
const char kDump[] =
    "heap_v2/4096\n"
    "  t*: 622: 2527508 [2966: 3869027]\n"
    "  t0: 622: 2527508 [2966: 3869027]\n"
    "  t1: 0: 0 [0: 0] worker\n"
    "@ 0x55ea1e451185 0x7fd1fa04524a 0x55ea1e4510a1\n"
    "  t*: 614: 2447585 [614: 2447585]\n"
    "  t0: 614: 2447585 [614: 2447585]\n"
    "@ 0x55ea1e4511a7 0x7fd1fa04524a\n"
    "  t*: 0: 0 [2196: 2258595]\n"
    "  t0: 0: 0 [2196: 2258595]\n"
    "@\n"  // an empty backtrace: the agent's own allocations
    "  t*: 3: 300 [3: 300]\n"
    "@ 0x10\n"  // rounding left the cumulative pair below the current one
    "  t*: 5: 500 [4: 480]\n"
    "\n"
    "MAPPED_LIBRARIES:\n"
    "@ 0x99\n"  // part of the maps, not a backtrace
    "  t*: 1: 1 [1: 1]\n"
    "56358ef56000-56358ef57000 r--p 00000000 fe:00 11043167   /tmp/t\n";

TEST(JemallocDump, ReadsBacktracesWithAllocationsAndFrees) {
  JemallocDump dump;
  std::string error;
  ASSERT_TRUE(parse_jemalloc_dump(kDump, /*accumulated=*/true, &dump, &error)) << error;
  EXPECT_EQ(dump.rate, 4096);
  ASSERT_EQ(dump.buckets.size(), 3u);

  const HeapBucketSnapshot& live = dump.buckets[0];
  EXPECT_EQ(live.stack, (std::vector<uintptr_t>{0x55ea1e451185, 0x7fd1fa04524a, 0x55ea1e4510a1}));
  EXPECT_EQ(live.size, 0u);
  EXPECT_EQ(live.alloc_count, 614u);
  EXPECT_EQ(live.alloc_bytes, 2447585u);
  EXPECT_EQ(live.free_count, 0u);
  EXPECT_EQ(live.free_bytes, 0u);

  const HeapBucketSnapshot& churn = dump.buckets[1];
  EXPECT_EQ(churn.alloc_count, 2196u);
  EXPECT_EQ(churn.alloc_bytes, 2258595u);
  EXPECT_EQ(churn.free_count, 2196u);  // none in use
  EXPECT_EQ(churn.free_bytes, 2258595u);

  const HeapBucketSnapshot& rounded = dump.buckets[2];
  EXPECT_EQ(rounded.alloc_count, 5u);  // never fewer allocations than live blocks
  EXPECT_EQ(rounded.alloc_bytes, 500u);
  EXPECT_EQ(rounded.free_count, 0u);
}

TEST(JemallocDump, WithoutAccumulationAllocationsAreTheLiveBlocks) {
  JemallocDump dump;
  std::string error;
  const char text[] =
      "heap_v2/524288\n  t*: 2: 8192 [0: 0]\n@ 0x1 0x2\n  t*: 2: 8192 [0: 0]\n"
      "@ 0x3\n  t*: 0: 0 [0: 0]\n";
  ASSERT_TRUE(parse_jemalloc_dump(text, /*accumulated=*/false, &dump, &error)) << error;
  EXPECT_EQ(dump.rate, 524288);
  ASSERT_EQ(dump.buckets.size(), 1u);  // nothing live at 0x3
  EXPECT_EQ(dump.buckets[0].alloc_count, 2u);
  EXPECT_EQ(dump.buckets[0].alloc_bytes, 8192u);
  EXPECT_EQ(dump.buckets[0].free_count, 0u);
}

TEST(JemallocDump, RejectsOtherText) {
  JemallocDump dump;
  std::string error;
  EXPECT_FALSE(parse_jemalloc_dump("heap profile: 1: 2 [3: 4] @ heap/524288\n", true, &dump, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(parse_jemalloc_dump("", true, &dump, &error));
}

TEST(JemallocRate, NearestPowerOfTwoOnTheLogScale) {
  EXPECT_EQ(jemalloc_lg_sample(524288), 19);
  EXPECT_EQ(jemalloc_lg_sample(100000), 17);  // log2 = 16.61
  EXPECT_EQ(jemalloc_lg_sample(10000), 13);   // log2 = 13.29
  EXPECT_EQ(jemalloc_lg_sample(1), 0);        // every allocation
  EXPECT_EQ(jemalloc_lg_sample(1 << 30), 30);
}

}  // namespace
}  // namespace ppagent
