// How to get from a frame at some pc to its caller: the one row of a DWARF
// CFI table the walker needs, reduced to what it can use on x86-64.
#pragma once

#include <cstdint>

namespace ppagent {

struct FrameRule {
  enum CfaBase : uint8_t {
    kNone = 0,  // no unwind information here: stop
    kRsp,       // CFA = rsp + cfa_offset
    kRbp,       // CFA = rbp + cfa_offset
    kPlt,       // lazy-binding PLT entry: CFA = rsp + 8 (+8 when (pc & 15) >= cfa_offset)
    kOutermost, // the return address is undefined (_start, clone): the walk ends here
    kRspDeref,  // CFA = *(rsp + cfa_offset) + deref_addend: a frame that keeps the
                // caller's rsp in a stack slot (OpenSSL's assembly realigns its stack)
  };
  static constexpr int16_t kFpUnchanged = INT16_MIN;      // caller's rbp = this rbp
  static constexpr int16_t kFpLost = INT16_MIN + 1;       // caller's rbp cannot be known

  uint32_t pc_offset;   // start of the row, relative to the module's load bias
  CfaBase cfa_base;
  uint8_t deref_addend; // kRspDeref only
  int16_t fp_offset;    // caller's rbp is saved at CFA + fp_offset, or kFp*
  int32_t cfa_offset;
  int32_t ra_offset;    // return address is saved at CFA + ra_offset (normally -8)
};

}  // namespace ppagent
