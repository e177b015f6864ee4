// `ppagent top`'s report on small profiles built to exercise pprof's rules. The
// expected texts are what `go tool pprof -top -symbolize=none` (Go 1.19)
// printed for these same profiles, written out once; the integration test
// compares real profiles with go itself.
#include "top_report.h"

#include <gtest/gtest.h>

#include "parsed_profile.h"
#include "pprof/profile_builder.h"

namespace ppagent::profile {
namespace {

std::string top(const Profile& p, TopOptions options = {}) {
  std::string text, error;
  EXPECT_TRUE(top_report(p, options, &text, &error)) << error;
  return text;
}

// main -> recurse -> recurse -> leaf (leaf inlined into recurse at one site and
// called normally from main at another); and a tiny sample in tiny().
Profile cpu_profile() {
  ProfileBuilder b;
  b.add_sample_type("samples", "count");
  b.add_sample_type("cpu", "nanoseconds");
  b.set_period("cpu", "nanoseconds", 10000000);
  uint64_t exe = b.add_mapping(MappingInfo{0x1000, 0x9000, 0, "/bin/prog", "", true, true, true, true});
  uint64_t main_fn = b.function_id("main", "main", "m.c", 1);
  uint64_t recurse = b.function_id("recurse", "recurse", "r.c", 1);
  uint64_t leaf = b.function_id("leaf", "leaf", "l.c", 1);
  uint64_t tiny = b.function_id("tiny", "tiny", "t.c", 1);
  uint64_t l_main = b.add_location(exe, 0x1100, {{main_fn, 5}});
  uint64_t l_recurse = b.add_location(exe, 0x1200, {{recurse, 7}});
  uint64_t l_leaf_in_recurse = b.add_location(exe, 0x1300, {{leaf, 2}, {recurse, 8}});
  uint64_t l_leaf = b.add_location(exe, 0x1400, {{leaf, 3}});
  uint64_t l_main_calls_leaf = b.add_location(exe, 0x1150, {{main_fn, 6}});
  uint64_t l_tiny = b.add_location(exe, 0x1500, {{tiny, 1}});
  b.add_sample({l_leaf_in_recurse, l_recurse, l_main}, {60, 600000000}, {});
  b.add_sample({l_leaf, l_main_calls_leaf}, {39, 390000000}, {});
  b.add_sample({l_tiny, l_main}, {1, 1000000}, {});  // 0.1%: under the node fraction
  return parse(b.encode());
}

TEST(TopReport, FlatCumRecursionInlineAndNodeFraction) {
  EXPECT_EQ(top(cpu_profile()),
            "File: prog\n"
            "Type: cpu\n"
            "Showing nodes accounting for 990ms, 99.90% of 991ms total\n"
            "Dropped 1 node (cum <= 4.96ms)\n"
            "      flat  flat%   sum%        cum   cum%\n"
            "     990ms 99.90% 99.90%      990ms 99.90%  leaf (partial-inline)\n"
            "         0     0% 99.90%      991ms   100%  main\n"
            "         0     0% 99.90%      600ms 60.54%  recurse\n");
}

// The node fraction of 100 samples rounds to 0, so tiny is a node too (4 in
// all). Cut to 2 nodes, leaf's only caller left is main, along one edge that
// is inlined in one sample and not in the other: pprof then marks nothing.
TEST(TopReport, CumSortNodecountAndSampleIndex) {
  TopOptions options;
  options.cum = true;
  options.nodecount = 2;
  options.sample_index = "samples";
  EXPECT_EQ(top(cpu_profile(), options),
            "File: prog\n"
            "Type: samples\n"
            "Showing nodes accounting for 99, 99.00% of 100 total\n"
            "Showing top 2 nodes out of 4\n"
            "      flat  flat%   sum%        cum   cum%\n"
            "         0     0%     0%        100   100%  main\n"
            "        99 99.00% 99.00%         99 99.00%  leaf\n");
}

TEST(TopReport, FocusKeepsThePercentagesOfTheWholeProfile) {
  TopOptions options;
  options.filter.focus = "^tiny$";
  EXPECT_EQ(top(cpu_profile(), options),
            "File: prog\n"
            "Type: cpu\n"
            "Active filters:\n"
            "   focus=^tiny$\n"
            "Showing nodes accounting for 1ms, 0.1% of 991ms total\n"
            "      flat  flat%   sum%        cum   cum%\n"
            "       1ms   0.1%   0.1%        1ms   0.1%  tiny\n"
            "         0     0%   0.1%        1ms   0.1%  main\n");
}

// Values in one unit for the whole report, from the smallest value shown (and
// not each value in its own best unit).
TEST(TopReport, OneOutputUnitAndHeaderLines) {
  ProfileBuilder b;
  b.add_sample_type("alloc_space", "bytes");
  b.set_time(0, 0);
  b.add_comment("kept comment");
  b.add_comment("#hidden comment");
  uint64_t f1 = b.function_id("big", "big", "", 0);
  uint64_t f2 = b.function_id("small", "small", "", 0);
  uint64_t l1 = b.add_location(0, 0x10, {{f1, 0}});
  uint64_t l2 = b.add_location(0, 0x20, {{f2, 0}});
  uint64_t l3 = b.add_location(0, 0x30, {});  // no function, no mapping
  b.add_sample({l1}, {3 << 20}, {});
  b.add_sample({l2}, {1 << 20}, {});
  b.add_sample({l3}, {1 << 19}, {});
  EXPECT_EQ(top(parse(b.encode())),
            "kept comment\n"
            "Type: alloc_space\n"
            "Showing nodes accounting for 4608kB, 100% of 4608kB total\n"
            "      flat  flat%   sum%        cum   cum%\n"
            "    3072kB 66.67% 66.67%     3072kB 66.67%  big\n"
            "    1024kB 22.22% 88.89%     1024kB 22.22%  small\n"
            "     512kB 11.11%   100%      512kB 11.11%  <unknown>\n");
}

TEST(TopReport, BadSampleIndexIsAnError) {
  TopOptions options;
  options.sample_index = "inuse_space";
  std::string text, error;
  EXPECT_FALSE(top_report(cpu_profile(), options, &text, &error));
  EXPECT_EQ(error, "sample_index \"inuse_space\" must be one of: samples, cpu");
}

}  // namespace
}  // namespace ppagent::profile
