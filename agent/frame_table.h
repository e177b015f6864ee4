// Unwind rules for one loaded module, compiled from its .eh_frame outside any
// signal handler, so that the handler only does a binary search and a few
// bounded stack reads (no DWARF interpretation, no loader calls, no locks).
// x86-64 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ppagent {

// How to get from a frame at some pc to its caller.
struct FrameRule {
  enum CfaBase : uint8_t {
    kNone = 0,  // no unwind information here: stop
    kRsp,       // CFA = rsp + cfa_offset
    kRbp,       // CFA = rbp + cfa_offset
    kPlt,       // lazy-binding PLT entry: CFA = rsp + 8 (+8 when (pc & 15) >= cfa_offset)
    kOutermost, // the return address is undefined (_start, clone): the walk ends here
  };
  static constexpr int16_t kFpUnchanged = INT16_MIN;      // caller's rbp = this rbp
  static constexpr int16_t kFpLost = INT16_MIN + 1;       // caller's rbp cannot be known

  uint32_t pc_offset;   // start of the range, relative to the module's load bias
  CfaBase cfa_base;
  int16_t fp_offset;    // caller's rbp is saved at CFA + fp_offset, or kFp*
  int32_t cfa_offset;
  int32_t ra_offset;    // return address is saved at CFA + ra_offset (normally -8)
};

// Compiles the rules of a module from its in-memory .eh_frame_hdr (the
// PT_GNU_EH_FRAME segment). `bias` is the module's load bias. Returns the
// rules sorted by pc_offset, each valid up to the next one. Unknown or
// unsupported instructions make the affected range kNone rather than wrong.
std::vector<FrameRule> compile_frame_rules(const uint8_t* eh_frame_hdr, uintptr_t bias);

// The rule in force at `pc_offset` or nullptr.
const FrameRule* find_frame_rule(const FrameRule* rules, size_t count, uint32_t pc_offset);

}  // namespace ppagent
