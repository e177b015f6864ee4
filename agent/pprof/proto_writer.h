// A minimal protocol-buffers encoder: just the wire types profile.proto needs.
// The agent writes pprof without libprotobuf so that it never brings a second
// protobuf runtime into the host process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ppagent {

class ProtoWriter {
 public:
  // Scalar fields. Proto3 omits zero values; so do these.
  void uint64(int field, uint64_t v);
  void int64(int field, int64_t v) { uint64(field, static_cast<uint64_t>(v)); }
  void boolean(int field, bool v) { uint64(field, v ? 1 : 0); }
  // Strings are always written, even empty ones (string_table[0] must be "").
  void string(int field, std::string_view s);
  // Packed repeated varints (proto3's default encoding for repeated scalars).
  void packed_uint64(int field, const std::vector<uint64_t>& values);
  void packed_int64(int field, const std::vector<int64_t>& values);

  // Nested messages: start_message returns a token for end_message, which
  // backfills the length once the size is known.
  size_t start_message(int field);
  void end_message(size_t token);

  const std::string& bytes() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  void tag(int field, int wire_type);
  void varint(uint64_t v);

  std::string buf_;
};

}  // namespace ppagent
