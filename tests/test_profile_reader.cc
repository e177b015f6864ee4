// The launcher's profile reader (no libprotobuf), checked against profiles
// encoded by the agent's writer and by libprotobuf, and against broken bytes.
#include "profile_reader.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#include <random>

#include "pprof/profile_builder.h"
#include "profile.pb.h"

namespace ppagent::profile {
namespace {

std::string gzip(std::string_view bytes) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&stream, bytes.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = bytes.size();
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = out.size();
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string heap_like_profile() {
  ProfileBuilder b;
  b.add_sample_type("alloc_objects", "count");
  b.add_sample_type("alloc_space", "bytes");
  b.set_period("space", "bytes", 524288);
  b.set_time(1700000000000000000, 2500000000);
  b.set_default_sample_type("alloc_space");
  b.add_comment("written by a test");
  uint64_t mapping = b.add_mapping(
      MappingInfo{0x400000, 0x500000, 0x1000, "/usr/bin/server", "abc123", true, true, true, true});
  uint64_t inner = b.function_id("inner", "_Z5innerv", "src/a.cc", 3);
  uint64_t outer = b.function_id("outer", "_Z5outerv", "src/b.cc", 10);
  uint64_t l1 = b.add_location(mapping, 0x401234, {{inner, 5}, {outer, 12}});
  uint64_t l2 = b.add_location(mapping, 0x402000, {{outer, 20}});
  uint64_t l3 = b.add_location(mapping, 0x403000, {});
  b.add_sample({l1, l2}, {3, 4096},
               {LabelInfo{"thread", "worker", 0, "", false},
                LabelInfo{"bytes", "", 1024, "bytes", true}});
  b.add_sample({l3, l2}, {1, -7}, {});
  return b.encode();
}

void expect_heap_like(const Profile& p) {
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.sample_types[0].type, "alloc_objects");
  EXPECT_EQ(p.sample_types[0].unit, "count");
  EXPECT_EQ(p.sample_types[1].type, "alloc_space");
  EXPECT_EQ(p.sample_types[1].unit, "bytes");
  EXPECT_EQ(p.default_sample_type, "alloc_space");
  EXPECT_EQ(p.period_type.type, "space");
  EXPECT_EQ(p.period_type.unit, "bytes");
  EXPECT_EQ(p.period, 524288);
  EXPECT_EQ(p.time_nanos, 1700000000000000000);
  EXPECT_EQ(p.duration_nanos, 2500000000);
  EXPECT_EQ(p.comments, std::vector<std::string>{"written by a test"});

  ASSERT_EQ(p.mappings.size(), 1u);
  const Mapping& m = p.mappings[0];
  EXPECT_EQ(m.start, 0x400000u);
  EXPECT_EQ(m.limit, 0x500000u);
  EXPECT_EQ(m.offset, 0x1000u);
  EXPECT_EQ(m.filename, "/usr/bin/server");
  EXPECT_EQ(m.build_id, "abc123");
  EXPECT_TRUE(m.has_functions && m.has_filenames && m.has_line_numbers && m.has_inline_frames);

  ASSERT_EQ(p.functions.size(), 2u);
  const Function* inner = p.function(p.locations.at(0).lines.at(0).function_id);
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(inner->name, "inner");
  EXPECT_EQ(inner->system_name, "_Z5innerv");
  EXPECT_EQ(inner->filename, "src/a.cc");
  EXPECT_EQ(inner->start_line, 3);

  ASSERT_EQ(p.locations.size(), 3u);
  const Location& l1 = p.locations[0];
  EXPECT_EQ(l1.address, 0x401234u);
  EXPECT_EQ(p.mapping(l1.mapping_id), &p.mappings[0]);
  ASSERT_EQ(l1.lines.size(), 2u);
  EXPECT_EQ(l1.lines[0].line, 5);
  EXPECT_EQ(p.function(l1.lines[1].function_id)->name, "outer");
  EXPECT_EQ(l1.lines[1].line, 12);
  EXPECT_TRUE(p.locations[2].lines.empty());

  ASSERT_EQ(p.samples.size(), 2u);
  EXPECT_EQ(p.samples[0].location_ids, (std::vector<uint64_t>{l1.id, p.locations[1].id}));
  EXPECT_EQ(p.samples[0].values, (std::vector<int64_t>{3, 4096}));
  ASSERT_EQ(p.samples[0].labels.size(), 2u);
  EXPECT_EQ(p.samples[0].labels[0].key, "thread");
  EXPECT_EQ(p.samples[0].labels[0].str, "worker");
  EXPECT_FALSE(p.samples[0].labels[0].is_numeric());
  EXPECT_EQ(p.samples[0].labels[1].key, "bytes");
  EXPECT_TRUE(p.samples[0].labels[1].is_numeric());
  EXPECT_EQ(p.samples[0].labels[1].num, 1024);
  EXPECT_EQ(p.samples[0].labels[1].num_unit, "bytes");
  EXPECT_EQ(p.samples[1].values, (std::vector<int64_t>{1, -7}));
  EXPECT_EQ(p.location(999), nullptr);
}

TEST(ProfileReader, ReadsEveryFieldPlainAndGzipped) {
  const std::string plain = heap_like_profile();
  for (const std::string& bytes : {plain, gzip(plain), gzip(plain.substr(0, 10)) + gzip(plain.substr(10))}) {
    Profile p;
    std::string error;
    ASSERT_TRUE(parse_profile(bytes, &p, &error)) << error;
    expect_heap_like(p);
  }
}

TEST(ProfileReader, ReadsWhatLibprotobufWrites) {
  pb::Profile message;
  message.add_string_table("");
  message.add_string_table("cpu");
  message.add_string_table("nanoseconds");
  message.add_string_table("main");
  auto* type = message.add_sample_type();
  type->set_type(1);
  type->set_unit(2);
  auto* function = message.add_function();
  function->set_id(7);
  function->set_name(3);
  auto* location = message.add_location();
  location->set_id(5);
  location->set_address(0x1234);
  location->add_line()->set_function_id(7);
  auto* sample = message.add_sample();
  sample->add_location_id(5);
  sample->add_value(-3);  // negative: ten-byte varint
  Profile p;
  std::string error;
  ASSERT_TRUE(parse_profile(message.SerializeAsString(), &p, &error)) << error;
  ASSERT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(p.samples[0].values, std::vector<int64_t>{-3});
  EXPECT_EQ(p.function(p.location(5)->lines[0].function_id)->name, "main");
  EXPECT_EQ(p.sample_types[0].unit, "nanoseconds");
}

// Field numbers and wire types written by hand, as another producer may.
std::string varint(uint64_t v) {
  std::string out;
  do {
    out += static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return out;
}
std::string key(int field, int wire_type) { return varint(static_cast<uint64_t>(field) << 3 | wire_type); }
std::string bytes_field(int field, const std::string& bytes) {
  return key(field, 2) + varint(bytes.size()) + bytes;
}
std::string varint_field(int field, uint64_t v) { return key(field, 0) + varint(v); }

TEST(ProfileReader, ReadsUnpackedRepeatedFieldsAndSkipsUnknownOnes) {
  std::string profile;
  profile += bytes_field(6, "");
  profile += bytes_field(6, "samples");
  profile += bytes_field(6, "count");
  profile += bytes_field(1, varint_field(1, 1) + varint_field(2, 2));
  profile += bytes_field(4, varint_field(1, 1) + varint_field(3, 0x10));
  profile += bytes_field(4, varint_field(1, 2) + varint_field(3, 0x20));
  // Unpacked location ids and values, and unknown fields of every wire type.
  std::string sample = varint_field(1, 1) + varint_field(1, 2) + varint_field(2, 42) +
                       key(99, 1) + std::string(8, 'x') + key(98, 5) + std::string(4, 'y') +
                       bytes_field(97, "zzz") + varint_field(96, 5);
  profile += bytes_field(2, sample);
  profile += bytes_field(100, "unknown top-level field");
  profile += varint_field(13, 1) + varint_field(13, 2);  // comments, unpacked
  Profile p;
  std::string error;
  ASSERT_TRUE(parse_profile(profile, &p, &error)) << error;
  ASSERT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(p.samples[0].location_ids, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(p.samples[0].values, std::vector<int64_t>{42});
  EXPECT_EQ(p.comments, (std::vector<std::string>{"samples", "count"}));
}

struct BadCase {
  const char* what;
  std::string bytes;
  const char* message;  // a part of the error
};

TEST(ProfileReader, ExplainsMalformedInputInOneLine) {
  const std::string strings = bytes_field(6, "") + bytes_field(6, "t");
  const std::string type = bytes_field(1, varint_field(1, 1) + varint_field(2, 1));
  const BadCase cases[] = {
      {"empty", "", "empty"},
      {"length past the end", "\x12\x7f", "runs past the end"},
      {"truncated varint", "\x60\xff", "truncated varint"},
      {"group wire type", key(2, 3), "wire type 3"},
      {"no string table", type, "string table"},
      {"string index out of range", strings + bytes_field(1, varint_field(1, 9)), "string 9"},
      {"missing location", strings + type + bytes_field(2, varint_field(1, 4) + varint_field(2, 1)),
       "location 4"},
      {"values do not match types", strings + type + bytes_field(2, varint_field(2, 1) + varint_field(2, 1)),
       "2 values"},
      {"duplicate location ids",
       strings + bytes_field(4, varint_field(1, 1)) + bytes_field(4, varint_field(1, 1)), "id 1"},
      {"missing function", strings + bytes_field(4, varint_field(1, 1) + bytes_field(4, varint_field(1, 3))),
       "function 3"},
      {"string field with a varint", varint_field(6, 1), "wire type 0"},
      {"truncated gzip", gzip(heap_like_profile()).substr(0, 30), "truncated"},
      {"corrupt gzip", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", 18), "gzip"},
  };
  for (const BadCase& c : cases) {
    Profile p;
    std::string error;
    EXPECT_FALSE(parse_profile(c.bytes, &p, &error)) << c.what;
    EXPECT_NE(error.find(c.message), std::string::npos) << c.what << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << c.what << ": " << error;
  }
}

// Every prefix and many random corruptions of a real profile, plain and
// gzipped: each either parses or fails with a message, never crashes (also
// checked by hand under -fsanitize=address,undefined).
TEST(ProfileReader, SurvivesTruncationAndCorruption) {
  const std::string plain = heap_like_profile();
  const std::string zipped = gzip(plain);
  for (const std::string* original : {&plain, &zipped}) {
    for (size_t length = 0; length < original->size(); ++length) {
      Profile p;
      std::string error;
      if (!parse_profile(original->substr(0, length), &p, &error)) {
        EXPECT_FALSE(error.empty());
      }
    }
    std::mt19937 random(1234);
    int failures = 0;
    for (int round = 0; round < 3000; ++round) {
      std::string bytes = *original;
      const int flips = 1 + random() % 4;
      for (int i = 0; i < flips; ++i) bytes[random() % bytes.size()] = static_cast<char>(random());
      Profile p;
      std::string error;
      if (!parse_profile(bytes, &p, &error)) {
        ++failures;
        EXPECT_FALSE(error.empty());
      }
    }
    EXPECT_GT(failures, 0);  // the corruption did reach the decoder's checks
  }
}

TEST(ProfileReader, ReadProfileNamesTheFile) {
  Profile p;
  std::string error;
  EXPECT_FALSE(read_profile("/nonexistent/x.pb.gz", &p, &error));
  EXPECT_EQ(error, "cannot open /nonexistent/x.pb.gz: No such file or directory");

  char path[] = "/tmp/test_profile_reader.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string zipped = gzip(heap_like_profile());
  ASSERT_EQ(write(fd, zipped.data(), zipped.size()), static_cast<ssize_t>(zipped.size()));
  close(fd);
  EXPECT_TRUE(read_profile(path, &p, &error)) << error;
  expect_heap_like(p);
  FILE* file = fopen(path, "w");
  fputs("not a profile", file);
  fclose(file);
  EXPECT_FALSE(read_profile(path, &p, &error));
  EXPECT_EQ(error.rfind(std::string(path) + ": not a readable profile: ", 0), 0u) << error;
  unlink(path);
}

}  // namespace
}  // namespace ppagent::profile
