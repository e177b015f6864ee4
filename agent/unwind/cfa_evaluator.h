// The unwind rule for one pc, found and evaluated in place in a loaded
// module's .eh_frame when a walk needs it: the FDE from the .eh_frame_hdr
// search table, its CIE, then the CIE's and the FDE's CFA programs run up to
// the pc. Async-signal-safe: allocates nothing (a fixed-depth stack for
// DW_CFA_remember_state), and every read is bounded by its record and by the
// module's PT_LOAD segments.
#pragma once

#include <cstdint>

#include "unwind/frame_rule.h"
#include "unwind/module_view.h"

namespace ppagent {

// DW_CFA_remember_state nesting the evaluator follows; deeper gives no rule.
// (gcc and clang nest one level, two in rare shrink-wrapped code.)
constexpr int kMaxRememberedStates = 8;

// The rule in force at `pc` (an address inside `module`). cfa_base is kNone
// when there is none: no FDE covers pc, the records are malformed or leave
// the module's memory, or the program uses an instruction or expression the
// walker cannot follow. pc_offset is the start of the row, relative to the
// module's bias.
FrameRule frame_rule_at(const ModuleView& module, uintptr_t pc);

// The same for a given FDE (frame_rule_at without the table search).
FrameRule frame_rule_in_fde(const ModuleView& module, const uint8_t* fde, uintptr_t pc);

// The code an FDE covers, [*begin, *end); false for an FDE that cannot be used.
bool fde_pc_range(const ModuleView& module, const uint8_t* fde, uintptr_t* begin, uintptr_t* end);

}  // namespace ppagent
