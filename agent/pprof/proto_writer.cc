#include "pprof/proto_writer.h"

namespace ppagent {

namespace {
constexpr int kVarint = 0;
constexpr int kLengthDelimited = 2;
// Nested lengths are backfilled into a fixed 5-byte varint (padded with
// continuation bits), which readers accept, so that no copy is needed.
constexpr size_t kLengthSlot = 5;
}  // namespace

void ProtoWriter::varint(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<char>(v));
}

void ProtoWriter::tag(int field, int wire_type) {
  varint((static_cast<uint64_t>(field) << 3) | wire_type);
}

void ProtoWriter::uint64(int field, uint64_t v) {
  if (v == 0) return;
  tag(field, kVarint);
  varint(v);
}

void ProtoWriter::string(int field, std::string_view s) {
  tag(field, kLengthDelimited);
  varint(s.size());
  buf_.append(s.data(), s.size());
}

void ProtoWriter::packed_uint64(int field, const std::vector<uint64_t>& values) {
  if (values.empty()) return;
  size_t token = start_message(field);
  for (uint64_t v : values) varint(v);
  end_message(token);
}

void ProtoWriter::packed_int64(int field, const std::vector<int64_t>& values) {
  if (values.empty()) return;
  size_t token = start_message(field);
  for (int64_t v : values) varint(static_cast<uint64_t>(v));
  end_message(token);
}

size_t ProtoWriter::start_message(int field) {
  tag(field, kLengthDelimited);
  size_t token = buf_.size();
  buf_.append(kLengthSlot, '\0');
  return token;
}

void ProtoWriter::end_message(size_t token) {
  uint64_t len = buf_.size() - token - kLengthSlot;
  for (size_t i = 0; i < kLengthSlot; i++) {
    uint8_t byte = len & 0x7f;
    len >>= 7;
    if (i + 1 < kLengthSlot) byte |= 0x80;
    buf_[token + i] = static_cast<char>(byte);
  }
}

}  // namespace ppagent
