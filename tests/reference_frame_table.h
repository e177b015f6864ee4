// The whole-table compiler the agent used before it evaluated rules on
// demand (agent/unwind/cfa_evaluator.h): every FDE of a module compiled into
// one sorted table. Kept only as the reference the on-demand rules are
// checked against (test_rule_equivalence.cc); not part of the agent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "unwind/frame_rule.h"

namespace ppagent {
namespace reference {

// Compiles the rules of a module from its in-memory .eh_frame_hdr (the
// PT_GNU_EH_FRAME segment). `bias` is the module's load bias. Returns the
// rules sorted by pc_offset, each valid up to the next one. Unknown or
// unsupported instructions make the affected range kNone rather than wrong.
std::vector<FrameRule> compile_frame_rules(const uint8_t* eh_frame_hdr, uintptr_t bias);

// The rule in force at `pc_offset` or nullptr.
const FrameRule* find_frame_rule(const FrameRule* rules, size_t count, uint32_t pc_offset);

}  // namespace reference
}  // namespace ppagent
