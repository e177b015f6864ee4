// The debug=1 text form, read back from encoded profiles.
#include "pprof/profile_text.h"

#include <gtest/gtest.h>

#include "pprof/profile_builder.h"

namespace ppagent {
namespace {

std::string two_sample_profile() {
  ProfileBuilder b;
  b.add_sample_type("contentions", "count");
  b.add_sample_type("delay", "nanoseconds");
  b.set_period("contentions", "count", 1);
  uint64_t mapping = b.add_mapping(MappingInfo{0x1000, 0x9000, 0, "/bin/x", "", true, true, true, true});
  uint64_t leaf = b.function_id("inner", "_Z5innerv", "a.cc", 3);
  uint64_t outer = b.function_id("outer", "_Z5outerv", "b.cc", 10);
  uint64_t main_fn = b.function_id("main", "main", "m.cc", 1);
  // One address with an inlined callee: innermost first.
  uint64_t l1 = b.add_location(mapping, 0x1234, {{leaf, 5}, {outer, 12}});
  uint64_t l2 = b.add_location(mapping, 0x2000, {{main_fn, 7}});
  uint64_t l3 = b.add_location(mapping, 0x3000, {});  // unresolved
  b.add_sample({l2}, {2, 200}, {});
  b.add_sample({l1, l2}, {5, 900}, {LabelInfo{"thread_name", "worker", 0, "", false}});
  b.add_sample({l3}, {1, -4}, {});
  return b.encode();
}

TEST(ProfileText, HeaderSamplesLargestFirstAndFrames) {
  std::string text, error;
  ASSERT_TRUE(profile_text(two_sample_profile(), "mutex", &text, &error)) << error;
  EXPECT_EQ(text,
            "mutex profile: total 8\n"
            "5 900 @ 0x1234 0x2000\n"
            "# labels: thread_name=worker\n"
            "#\t0x1234\tinner\ta.cc:5\n"
            "#\t0x1234\touter\tb.cc:12\n"
            "#\t0x2000\tmain\tm.cc:7\n"
            "\n"
            "2 200 @ 0x2000\n"
            "#\t0x2000\tmain\tm.cc:7\n"
            "\n"
            "1 -4 @ 0x3000\n"
            "#\t0x3000\t?\n"
            "\n");
}

TEST(ProfileText, EmptyProfile) {
  ProfileBuilder b;
  b.add_sample_type("goroutine", "count");
  std::string text, error;
  ASSERT_TRUE(profile_text(b.encode(), "goroutine", &text, &error));
  EXPECT_EQ(text, "goroutine profile: total 0\n");
}

TEST(ProfileText, RejectsMalformedBytesWithoutCrashing) {
  std::string good = two_sample_profile();
  std::string text, error;
  EXPECT_FALSE(profile_text(std::string("\x12\x7f", 2), "x", &text, &error));  // length past end
  EXPECT_FALSE(profile_text(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), "x",
                            &text, &error));  // varint too long
  // Every truncation is either read or refused, never a crash.
  for (size_t n = 0; n < good.size(); n++) profile_text(good.substr(0, n), "x", &text, &error);
  // And every single-byte corruption.
  for (size_t i = 0; i < good.size(); i++) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    profile_text(bad, "x", &text, &error);
  }
}

}  // namespace
}  // namespace ppagent
