// Bounded reading of DWARF call-frame data (.eh_frame, .eh_frame_hdr) in
// place: every read checks the end it was given and turns the reader's ok()
// false instead of going past it. Allocates nothing; usable in a handler.
#pragma once

#include <cstdint>
#include <cstring>

namespace ppagent {
namespace dwarf {

// DWARF register numbers on x86-64.
constexpr int kRegRbp = 6, kRegRsp = 7, kRegRa = 16;

// Pointer encodings (DW_EH_PE_*).
constexpr uint8_t kPeOmit = 0xff, kPeFormatMask = 0x0f, kPeAppMask = 0x70, kPeIndirect = 0x80;
constexpr uint8_t kPeAbsptr = 0x00, kPeUleb128 = 0x01, kPeUdata2 = 0x02, kPeUdata4 = 0x03,
                  kPeUdata8 = 0x04, kPeSleb128 = 0x09, kPeSdata2 = 0x0a, kPeSdata4 = 0x0b,
                  kPeSdata8 = 0x0c;
constexpr uint8_t kPePcrel = 0x10, kPeDatarel = 0x30;

class Reader {
 public:
  Reader(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}
  bool ok() const { return ok_; }
  const uint8_t* pos() const { return p_; }
  const uint8_t* end() const { return end_; }
  bool at_end() const { return p_ >= end_; }
  void fail() { ok_ = false; p_ = end_; }
  void skip(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail();
    else p_ += n;
  }
  template <typename T> T fixed() {
    T v{};
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) { fail(); return v; }
    memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  uint8_t u8() { return fixed<uint8_t>(); }
  uint64_t uleb() {
    uint64_t v = 0;
    for (int shift = 0; ; shift += 7) {
      if (p_ >= end_ || shift > 63) { ok_ = false; return v; }
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  int64_t sleb() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
      if (p_ >= end_ || shift > 63) { ok_ = false; return v; }
      b = *p_++;
      v |= static_cast<int64_t>(b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v |= -(static_cast<int64_t>(1) << shift);
    return v;
  }
  // Reads a pointer in encoding `enc`; `datarel` is the base for DW_EH_PE_datarel.
  uintptr_t pointer(uint8_t enc, uintptr_t datarel = 0) {
    const uint8_t* field = p_;
    uintptr_t v;
    switch (enc & kPeFormatMask) {
      case kPeAbsptr: v = fixed<uint64_t>(); break;
      case kPeUleb128: v = uleb(); break;
      case kPeUdata2: v = fixed<uint16_t>(); break;
      case kPeUdata4: v = fixed<uint32_t>(); break;
      case kPeUdata8: v = fixed<uint64_t>(); break;
      case kPeSleb128: v = sleb(); break;
      case kPeSdata2: v = static_cast<intptr_t>(fixed<int16_t>()); break;
      case kPeSdata4: v = static_cast<intptr_t>(fixed<int32_t>()); break;
      case kPeSdata8: v = fixed<int64_t>(); break;
      default: ok_ = false; return 0;
    }
    switch (enc & kPeAppMask) {
      case 0: break;
      case kPePcrel: v += reinterpret_cast<uintptr_t>(field); break;
      case kPeDatarel: v += datarel; break;
      default: ok_ = false; return 0;  // textrel/funcrel/aligned: not used on x86-64 Linux
    }
    if (enc & kPeIndirect) ok_ = false;  // only seen for personality pointers, which we skip
    return v;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace dwarf
}  // namespace ppagent
