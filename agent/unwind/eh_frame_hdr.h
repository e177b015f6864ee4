// The binary search table of a module's .eh_frame_hdr, searched in place.
#pragma once

#include <cstdint>

#include "unwind/module_view.h"

namespace ppagent {

// The table encoding GNU ld, gold and lld emit: DW_EH_PE_datarel|DW_EH_PE_sdata4,
// entries of two int32 (initial location, FDE address) relative to the header.
constexpr uint8_t kEhFrameHdrTableEncoding = 0x3b;

// The FDE with the greatest initial location <= pc, or nullptr. Also nullptr
// for a header in another version or table encoding (never seen from the
// linkers above): the walk then stops in that module. The FDE is not checked
// beyond lying in the module's segments; its range is the caller's business.
// Async-signal-safe; reads only the header and log2(n) table entries.
const uint8_t* find_fde(const ModuleView& module, uintptr_t pc);

}  // namespace ppagent
