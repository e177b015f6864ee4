// Samples as named stacks, -sample_index, -focus and -tagfocus with pprof's
// meanings.
#include "profile_stacks.h"

#include <gtest/gtest.h>

#include "parsed_profile.h"
#include "pprof/profile_builder.h"

namespace ppagent::profile {
namespace {

Profile heap_profile(bool with_default) {
  ProfileBuilder b;
  for (const char* type : {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"})
    b.add_sample_type(type, std::string(type).find("space") != std::string::npos ? "bytes" : "count");
  if (with_default) b.set_default_sample_type("alloc_space");
  return parse(b.encode());
}

TEST(PickSampleIndex, FollowsPprofRules) {
  std::string error;
  size_t index = 99;
  ASSERT_TRUE(pick_sample_index(heap_profile(true), "", &index, &error));
  EXPECT_EQ(index, 1u);  // default_sample_type
  ASSERT_TRUE(pick_sample_index(heap_profile(false), "", &index, &error));
  EXPECT_EQ(index, 3u);  // else the last
  ASSERT_TRUE(pick_sample_index(heap_profile(false), "alloc_objects", &index, &error));
  EXPECT_EQ(index, 0u);
  ASSERT_TRUE(pick_sample_index(heap_profile(false), "2", &index, &error));
  EXPECT_EQ(index, 2u);
  EXPECT_FALSE(pick_sample_index(heap_profile(false), "4", &index, &error));
  EXPECT_EQ(error, "sample_index 4 is outside the range [0..3]");
  EXPECT_FALSE(pick_sample_index(heap_profile(false), "cpu", &index, &error));
  EXPECT_EQ(error,
            "sample_index \"cpu\" must be one of: alloc_objects, alloc_space, inuse_objects, "
            "inuse_space");

  ProfileBuilder legacy;  // old heap profiles call them "objects" and "space"
  legacy.add_sample_type("objects", "count");
  legacy.add_sample_type("space", "bytes");
  ASSERT_TRUE(pick_sample_index(parse(legacy.encode()), "inuse_objects", &index, &error));
  EXPECT_EQ(index, 0u);
}

// main -> outer (with inner inlined into it) / main -> work (in an unsymbolized
// library) / a location with no mapping at all.
Profile stack_profile() {
  ProfileBuilder b;
  b.add_sample_type("samples", "count");
  b.add_sample_type("cpu", "nanoseconds");
  uint64_t exe = b.add_mapping(MappingInfo{0x400000, 0x500000, 0, "/usr/bin/server", "", true, true, true, true});
  uint64_t lib = b.add_mapping(MappingInfo{0x7f0000000000, 0x7f0000100000, 0x2000, "/lib/libwork.so", "", false, false, false, false});
  uint64_t main_fn = b.function_id("main", "main", "main.cc", 1);
  uint64_t outer = b.function_id("outer", "_Z5outerv", "outer.cc", 10);
  uint64_t inner = b.function_id("inner", "_Z5innerv", "inner.h", 3);
  uint64_t l_main = b.add_location(exe, 0x401000, {{main_fn, 7}});
  uint64_t l_outer = b.add_location(exe, 0x402000, {{inner, 4}, {outer, 12}});
  uint64_t l_lib = b.add_location(lib, 0x7f0000000abc, {});
  uint64_t l_nowhere = b.add_location(0, 0xdead, {});
  b.add_sample({l_outer, l_main}, {2, 20000000}, {LabelInfo{"thread", "worker-1", 0, "", false}});
  b.add_sample({l_lib, l_main}, {1, 10000000},
               {LabelInfo{"thread", "io", 0, "", false}, LabelInfo{"bytes", "", 2048, "bytes", true}});
  b.add_sample({l_nowhere}, {1, 10000000}, {LabelInfo{"bytes", "", 64, "bytes", true}});
  return parse(b.encode());
}

std::vector<std::vector<std::string>> names(const Stacks& stacks) {
  std::vector<std::vector<std::string>> out;
  for (const auto& stack : stacks.stacks) {
    out.emplace_back();
    for (uint32_t frame : stack.frames) out.back().push_back(stacks.frames[frame].name);
  }
  return out;
}

TEST(CollectStacks, LeafFirstWithInlinedFramesAndReadableAddresses) {
  const Profile p = stack_profile();
  Stacks stacks;
  std::string error;
  ASSERT_TRUE(collect_stacks(p, 1, SampleFilter{}, &stacks, &error)) << error;
  EXPECT_EQ(names(stacks), (std::vector<std::vector<std::string>>{
                               {"inner", "outer", "main"},
                               {"libwork.so+0x2abc", "main"},
                               {"0xdead"}}));
  const Frame& inner = stacks.frames[stacks.stacks[0].frames[0]];
  EXPECT_EQ(inner.file, "inner.h");
  EXPECT_EQ(inner.line, 4);
  EXPECT_TRUE(inner.inlined);
  EXPECT_FALSE(stacks.frames[stacks.stacks[0].frames[1]].inlined);
  EXPECT_EQ(stacks.frames[stacks.stacks[0].frames[1]].line, 12);
  // go tool pprof -top counts frames without names per mapping.
  EXPECT_EQ(stacks.frames[stacks.stacks[0].frames[0]].pprof_name(), "inner");
  EXPECT_EQ(stacks.frames[stacks.stacks[1].frames[0]].pprof_name(), "[libwork.so]");
  EXPECT_EQ(stacks.frames[stacks.stacks[2].frames[0]].pprof_name(), "<unknown>");
  EXPECT_FALSE(stacks.frames[stacks.stacks[1].frames[0]].has_name);
  // Equal frames share one entry: main appears in two stacks.
  EXPECT_EQ(stacks.stacks[0].frames[2], stacks.stacks[1].frames[1]);
  EXPECT_EQ(stacks.frames.size(), 5u);
  EXPECT_EQ(stacks.total, 40000000);
  EXPECT_EQ(stacks.stacks[1].value, 10000000);
  EXPECT_EQ(stacks.stacks[2].sample, 2u);
}

std::vector<size_t> kept(const Profile& p, SampleFilter filter) {
  Stacks stacks;
  std::string error;
  EXPECT_TRUE(collect_stacks(p, 0, filter, &stacks, &error)) << error;
  std::vector<size_t> out;
  for (const auto& stack : stacks.stacks) out.push_back(stack.sample);
  return out;
}

TEST(CollectStacks, FocusMatchesFunctionsFilesAndMappings) {
  const Profile p = stack_profile();
  EXPECT_EQ(kept(p, {"inner", ""}), std::vector<size_t>{0});   // an inlined function
  EXPECT_EQ(kept(p, {"outer\\.cc", ""}), std::vector<size_t>{0});  // a file
  EXPECT_EQ(kept(p, {"libwork", ""}), std::vector<size_t>{1});  // a mapping
  EXPECT_EQ(kept(p, {"^main$", ""}), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(kept(p, {"ai", ""}), (std::vector<size_t>{0, 1}));  // a part of a name
  EXPECT_EQ(kept(p, {"nothing", ""}), std::vector<size_t>{});
}

TEST(CollectStacks, TagfocusOnStringAndNumericLabels) {
  const Profile p = stack_profile();
  EXPECT_EQ(kept(p, {"", "thread=worker"}), std::vector<size_t>{0});
  EXPECT_EQ(kept(p, {"", "thread=io,worker"}), (std::vector<size_t>{0, 1}));  // any, with a key
  EXPECT_EQ(kept(p, {"", "thread:io"}), std::vector<size_t>{1});  // "key:value" without a key
  EXPECT_EQ(kept(p, {"", "thread,bytes"}), std::vector<size_t>{});  // every regex, without a key
  EXPECT_EQ(kept(p, {"", "bytes=2kb"}), std::vector<size_t>{1});
  EXPECT_EQ(kept(p, {"", "bytes=1kb:"}), std::vector<size_t>{1});
  EXPECT_EQ(kept(p, {"", "bytes=:100b"}), std::vector<size_t>{2});
  EXPECT_EQ(kept(p, {"", "bytes=64b:4kb"}), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(kept(p, {"", "2kb"}), std::vector<size_t>{1});  // any numeric label
  EXPECT_EQ(kept(p, {"thread", "thread=io"}), std::vector<size_t>{});  // both filters
}

// C++ names can be thousands of characters long (templates): matching one
// must not recurse per character.
TEST(CollectStacks, FocusOnAVeryLongName) {
  ProfileBuilder b;
  b.add_sample_type("samples", "count");
  const std::string name = "f<" + std::string(200000, 'a') + ">";
  uint64_t function = b.function_id(name, name, "x.cc", 1);
  b.add_sample({b.add_location(0, 0x10, {{function, 1}})}, {1}, {});
  const Profile p = parse(b.encode());
  EXPECT_EQ(kept(p, {"(a|b)*>$", ""}), std::vector<size_t>{0});
  EXPECT_EQ(kept(p, {"^f<.*b", ""}), std::vector<size_t>{});
}

TEST(CollectStacks, BadRegexIsAnError) {
  Stacks stacks;
  std::string error;
  EXPECT_FALSE(collect_stacks(stack_profile(), 0, {"(unclosed", ""}, &stacks, &error));
  EXPECT_EQ(error.rfind("bad -focus regular expression \"(unclosed\": ", 0), 0u) << error;
  EXPECT_FALSE(collect_stacks(stack_profile(), 0, {"", "k=[x"}, &stacks, &error));
  EXPECT_EQ(error.rfind("bad -tagfocus regular expression \"[x\": ", 0), 0u) << error;
}

}  // namespace
}  // namespace ppagent::profile
