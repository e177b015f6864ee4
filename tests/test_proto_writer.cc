// The agent's own encoder, read back by the classes protoc generates from
// proto/profile.proto: an independent check of every field it writes.
#include <gtest/gtest.h>

#include "profile.pb.h"
#include "pprof/profile_builder.h"
#include "pprof/proto_writer.h"

namespace ppagent {
namespace {

pb::Profile decode(const std::string& bytes) {
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(bytes));
  return p;
}

TEST(ProtoWriter, EncodesScalarsAndNestedMessages) {
  ProtoWriter w;
  size_t t = w.start_message(11);  // period_type
  w.int64(1, 3);
  w.int64(2, 4);
  w.end_message(t);
  w.int64(12, 1234567890123LL);    // period
  w.int64(9, -5);                  // time_nanos: negative int64 as 10-byte varint
  w.string(6, "");
  w.string(6, "x");
  w.packed_int64(13, {1, 300, 70000});
  pb::Profile p = decode(w.bytes());
  EXPECT_EQ(p.period_type().type(), 3);
  EXPECT_EQ(p.period_type().unit(), 4);
  EXPECT_EQ(p.period(), 1234567890123LL);
  EXPECT_EQ(p.time_nanos(), -5);
  ASSERT_EQ(p.string_table_size(), 2);
  EXPECT_EQ(p.string_table(0), "");
  EXPECT_EQ(p.string_table(1), "x");
  ASSERT_EQ(p.comment_size(), 3);
  EXPECT_EQ(p.comment(2), 70000);
}

TEST(ProtoWriter, LargeNestedMessageLength) {
  ProtoWriter w;
  size_t t = w.start_message(2);
  std::vector<uint64_t> ids(100000);
  for (size_t i = 0; i < ids.size(); i++) ids[i] = i + 1;
  w.packed_uint64(1, ids);
  w.end_message(t);
  pb::Profile p = decode(w.bytes());
  ASSERT_EQ(p.sample_size(), 1);
  ASSERT_EQ(p.sample(0).location_id_size(), 100000);
  EXPECT_EQ(p.sample(0).location_id(99999), 100000u);
}

TEST(ProfileBuilder, RoundTripsACpuProfile) {
  ProfileBuilder b;
  b.add_sample_type("samples", "count");
  b.add_sample_type("cpu", "nanoseconds");
  b.set_period("cpu", "nanoseconds", 10000000);
  b.set_time(1700000000000000000LL, 2500000000LL);
  b.add_comment("dropped samples: 7");
  MappingInfo m;
  m.start = 0x400000;
  m.limit = 0x500000;
  m.file_offset = 0x1000;
  m.filename = "/usr/bin/prog";
  m.build_id = "abcdef";
  uint64_t mapping = b.add_mapping(m);
  b.mapping(mapping).has_functions = true;
  uint64_t inner = b.function_id("ns::helper()", "_ZN2ns6helperEv", "a.cc", 10);
  uint64_t outer = b.function_id("main", "main", "a.cc", 20);
  EXPECT_EQ(b.function_id("main", "main", "a.cc", 20), outer);  // deduplicated
  uint64_t loc1 = b.add_location(mapping, 0x401000, {{inner, 12}, {outer, 25}});
  uint64_t loc2 = b.add_location(mapping, 0x401100, {{outer, 30}});
  b.add_sample({loc1, loc2}, {3, 30000000},
               {{"thread_id", "42", 0, "", false}, {"bytes", "", 512, "", true}});

  pb::Profile p = decode(b.encode());
  auto s = [&p](int64_t i) { return p.string_table(static_cast<int>(i)); };
  ASSERT_GE(p.string_table_size(), 1);
  EXPECT_EQ(s(0), "");
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(s(p.sample_type(0).type()), "samples");
  EXPECT_EQ(s(p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(s(p.period_type().type()), "cpu");
  EXPECT_EQ(p.period(), 10000000);
  EXPECT_EQ(p.time_nanos(), 1700000000000000000LL);
  EXPECT_EQ(p.duration_nanos(), 2500000000LL);
  ASSERT_EQ(p.comment_size(), 1);
  EXPECT_EQ(s(p.comment(0)), "dropped samples: 7");

  ASSERT_EQ(p.mapping_size(), 1);
  EXPECT_EQ(p.mapping(0).id(), 1u);
  EXPECT_EQ(p.mapping(0).memory_start(), 0x400000u);
  EXPECT_EQ(p.mapping(0).memory_limit(), 0x500000u);
  EXPECT_EQ(p.mapping(0).file_offset(), 0x1000u);
  EXPECT_EQ(s(p.mapping(0).filename()), "/usr/bin/prog");
  EXPECT_EQ(s(p.mapping(0).build_id()), "abcdef");
  EXPECT_TRUE(p.mapping(0).has_functions());
  EXPECT_FALSE(p.mapping(0).has_filenames());

  ASSERT_EQ(p.function_size(), 2);
  EXPECT_EQ(s(p.function(0).name()), "ns::helper()");
  EXPECT_EQ(s(p.function(0).system_name()), "_ZN2ns6helperEv");
  EXPECT_EQ(s(p.function(0).filename()), "a.cc");
  EXPECT_EQ(p.function(0).start_line(), 10);

  ASSERT_EQ(p.location_size(), 2);
  EXPECT_EQ(p.location(0).id(), loc1);
  EXPECT_EQ(p.location(0).mapping_id(), mapping);
  EXPECT_EQ(p.location(0).address(), 0x401000u);
  ASSERT_EQ(p.location(0).line_size(), 2);
  EXPECT_EQ(p.location(0).line(0).function_id(), inner);
  EXPECT_EQ(p.location(0).line(0).line(), 12);
  EXPECT_EQ(p.location(0).line(1).function_id(), outer);

  ASSERT_EQ(p.sample_size(), 1);
  const pb::Sample& sample = p.sample(0);
  ASSERT_EQ(sample.location_id_size(), 2);
  EXPECT_EQ(sample.location_id(0), loc1);
  ASSERT_EQ(sample.value_size(), 2);
  EXPECT_EQ(sample.value(1), 30000000);
  ASSERT_EQ(sample.label_size(), 2);
  EXPECT_EQ(s(sample.label(0).key()), "thread_id");
  EXPECT_EQ(s(sample.label(0).str()), "42");
  EXPECT_EQ(s(sample.label(1).key()), "bytes");
  EXPECT_EQ(sample.label(1).num(), 512);
}

TEST(ProfileBuilder, DefaultSampleType) {
  ProfileBuilder b;
  b.add_sample_type("alloc_space", "bytes");
  b.set_default_sample_type("alloc_space");
  pb::Profile p = decode(b.encode());
  EXPECT_EQ(p.string_table(static_cast<int>(p.default_sample_type())), "alloc_space");
}

}  // namespace
}  // namespace ppagent
