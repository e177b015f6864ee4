// Heap sampling arithmetic and profile shape, read back with the classes
// generated from proto/profile.proto.
#include <gtest/gtest.h>

#include <cmath>

#include "pprof/heap_profile.h"
#include "profile.pb.h"

namespace ppagent {
namespace {

TEST(ScaleHeapSample, MatchesGoFormula) {
  int64_t count, bytes;
  // 10 sampled objects of 1024 bytes at rate 16384: each was sampled with
  // probability 1 - exp(-1024/16384).
  scale_heap_sample(10, 10240, 16384, &count, &bytes);
  double scale = 1.0 / (1.0 - std::exp(-1024.0 / 16384.0));
  EXPECT_EQ(count, static_cast<int64_t>(10 * scale));
  EXPECT_EQ(bytes, static_cast<int64_t>(10240 * scale));
  EXPECT_NEAR(static_cast<double>(bytes) / count, 1024.0, 1.0);
}

TEST(ScaleHeapSample, LargeObjectsAreBarelyScaled) {
  int64_t count, bytes;
  scale_heap_sample(3, 3 * (64 << 20), 524288, &count, &bytes);
  EXPECT_EQ(count, 3);
  EXPECT_EQ(bytes, 3 * (64 << 20));
}

TEST(ScaleHeapSample, RateOneIsExact) {
  int64_t count, bytes;
  scale_heap_sample(7, 7, 1, &count, &bytes);  // 1-byte objects, every one recorded
  EXPECT_EQ(count, 7);
  EXPECT_EQ(bytes, 7);
}

TEST(ScaleHeapSample, EmptyIsZero) {
  int64_t count = -1, bytes = -1;
  scale_heap_sample(0, 0, 524288, &count, &bytes);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(bytes, 0);
}

extern "C" __attribute__((noinline)) uintptr_t heap_test_site() {
  return reinterpret_cast<uintptr_t>(__builtin_return_address(0));
}

TEST(HeapProfile, BothFromOneBuildAreWhatEachBuildGives) {
  uintptr_t ra = heap_test_site();
  std::vector<HeapBucketSnapshot> buckets = {
      {{ra}, 4096, 100, 409600, 40, 163840},
      {{ra, ra + 1}, 64, 5, 320, 5, 320},
      {{ra + 2}, 0, 3, 900, 1, 300},  // mixed sizes
  };
  Symbolizer symbolizer;
  const HeapProfiles both = build_heap_profiles(buckets, 524288, 123, &symbolizer, 456);
  EXPECT_EQ(both.heap,
            build_heap_profile(buckets, 524288, HeapProfileKind::kHeap, 123, &symbolizer, 456));
  EXPECT_EQ(both.allocs,
            build_heap_profile(buckets, 524288, HeapProfileKind::kAllocs, 123, &symbolizer, 456));
  EXPECT_NE(both.heap, both.allocs) << "their default sample types differ";
}

TEST(HeapProfile, GoShapeForHeapAndAllocs) {
  uintptr_t ra = heap_test_site();
  std::vector<HeapBucketSnapshot> buckets = {
      {{ra}, 4096, 100, 409600, 40, 163840},  // 60 live of 100
      {{ra}, 64, 5, 320, 5, 320},             // all freed
  };
  Symbolizer symbolizer;
  for (auto kind : {HeapProfileKind::kHeap, HeapProfileKind::kAllocs}) {
    pb::Profile p;
    ASSERT_TRUE(p.ParseFromString(build_heap_profile(buckets, 524288, kind, 123, &symbolizer)));
    auto s = [&p](int64_t i) { return p.string_table(static_cast<int>(i)); };
    ASSERT_EQ(p.sample_type_size(), 4);
    const char* types[] = {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"};
    const char* units[] = {"count", "bytes", "count", "bytes"};
    for (int i = 0; i < 4; i++) {
      EXPECT_EQ(s(p.sample_type(i).type()), types[i]);
      EXPECT_EQ(s(p.sample_type(i).unit()), units[i]);
    }
    EXPECT_EQ(s(p.period_type().type()), "space");
    EXPECT_EQ(s(p.period_type().unit()), "bytes");
    EXPECT_EQ(p.period(), 524288);
    EXPECT_EQ(p.time_nanos(), 123);
    if (kind == HeapProfileKind::kAllocs) EXPECT_EQ(s(p.default_sample_type()), "alloc_space");
    else EXPECT_EQ(p.default_sample_type(), 0);

    ASSERT_EQ(p.sample_size(), 2);
    const pb::Sample& live = p.sample(0);
    int64_t count, bytes;
    scale_heap_sample(100, 409600, 524288, &count, &bytes);
    EXPECT_EQ(live.value(0), count);
    EXPECT_EQ(live.value(1), bytes);
    scale_heap_sample(60, 245760, 524288, &count, &bytes);
    EXPECT_EQ(live.value(2), count);
    EXPECT_EQ(live.value(3), bytes);
    ASSERT_EQ(live.label_size(), 1);
    EXPECT_EQ(s(live.label(0).key()), "bytes");
    EXPECT_EQ(live.label(0).num(), 4096);
    EXPECT_EQ(p.sample(1).value(3), 0);

    // The stack is named: the caller of heap_test_site is this test.
    ASSERT_EQ(live.location_id_size(), 1);
    const pb::Location& loc = p.location(static_cast<int>(live.location_id(0)) - 1);
    ASSERT_GE(loc.line_size(), 1);
    const pb::Function& f = p.function(static_cast<int>(loc.line(loc.line_size() - 1).function_id()) - 1);
    EXPECT_NE(s(f.name()).find("GoShapeForHeapAndAllocs"), std::string::npos) << s(f.name());
  }
}

}  // namespace
}  // namespace ppagent
