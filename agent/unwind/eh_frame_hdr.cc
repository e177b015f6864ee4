#include "unwind/eh_frame_hdr.h"

#include <cstring>

#include "unwind/dwarf_reader.h"

namespace ppagent {

const uint8_t* find_fde(const ModuleView& module, uintptr_t pc) {
  const uint8_t* hdr = module.eh_frame_hdr;
  const uint8_t* end = hdr ? module.readable_end(hdr) : nullptr;
  if (end == nullptr) return nullptr;
  if (module.eh_frame_hdr_end < end) end = module.eh_frame_hdr_end;
  const uintptr_t base = reinterpret_cast<uintptr_t>(hdr);

  dwarf::Reader r(hdr, end);
  const uint8_t version = r.u8(), frame_ptr_enc = r.u8(), count_enc = r.u8(), table_enc = r.u8();
  if (!r.ok() || version != 1 || count_enc == dwarf::kPeOmit ||
      table_enc != kEhFrameHdrTableEncoding)
    return nullptr;
  r.pointer(frame_ptr_enc, base);  // where .eh_frame starts: not needed
  uint64_t count = r.pointer(count_enc, base);
  if (!r.ok() || count == 0) return nullptr;
  const uint8_t* table = r.pos();
  const uint64_t room = static_cast<uint64_t>(end - table) / 8;
  if (count > room) count = room;  // a table longer than its segment is cut, never overread

  // Entries are sorted by initial location; find the last one <= pc.
  const int64_t target = static_cast<int64_t>(pc - base);
  if (target < INT32_MIN) return nullptr;
  uint64_t lo = 0, hi = count;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    int32_t location;
    memcpy(&location, table + mid * 8, 4);
    if (location <= target) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  int32_t fde_offset;
  memcpy(&fde_offset, table + (lo - 1) * 8 + 4, 4);
  return hdr + fde_offset;
}

}  // namespace ppagent
