#include "symbols/dwarf_frames.h"

#include <dwarf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include "symbols/dwarf_scopes.h"
#include "symbols/unit_frames_cache.h"
#include "symbols/unit_ranges_cache.h"

namespace ppagent {

namespace {

// An address may fall in more than one range (a unit's range that encloses
// another's); the nearest few below it are checked.
constexpr int kOverlapLookBack = 4;

// Appends to `chain`, outermost first, the code scopes among `parent`'s
// descendants that hold `address`: what dwarf_getscopes finds for the
// frames, for less (it asks a DIE for its addresses only when the DIE holds
// code, goes into a scope only when the address is in it, and stops at the
// first match). The walk for a unit UnitFrames cannot represent; the table
// (unit_frames.h) is read from the same choices, once per unit.
bool append_scopes(Dwarf_Die* parent, Dwarf_Addr address, int depth, std::vector<Dwarf_Die>* chain) {
  if (depth >= kMaxScopeNesting) return false;
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return false;
  do {
    const int tag = dwarf_tag(&child);
    if (is_code_scope(tag)) {
      if (dwarf_haspc(&child, address) > 0) {
        Dwarf_Die scope = child;
        chain->push_back(scope);
        append_scopes(&scope, address, depth + 1, chain);
        return true;
      }
      // A block without addresses of its own: its contents may have some.
      if (is_addressless_block(&child, tag) && append_scopes(&child, address, depth + 1, chain))
        return true;
    } else if (may_hold_code_scopes(tag) && dwarf_haschildren(&child) > 0) {
      if (append_scopes(&child, address, depth + 1, chain)) return true;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

// DW_AT_stmt_list's offset into .debug_line, read from the attribute's bytes:
// libdw's dwarf_formudata checks it against the part of .debug_line inflated
// so far, which may not reach it yet.
bool stmt_list_offset(Dwarf_Die* cu, uint8_t offset_size, uint64_t* offset) {
  Dwarf_Attribute attr;
  if (dwarf_attr(cu, DW_AT_stmt_list, &attr) == nullptr || attr.valp == nullptr) return false;
  size_t size = attr.form == DW_FORM_data8 ? 8
              : attr.form == DW_FORM_data4 ? 4
              : attr.form == DW_FORM_sec_offset ? offset_size : 0;
  if (size == 0) return false;
  *offset = 0;
  memcpy(offset, attr.valp, size);
  return true;
}

}  // namespace

DwarfFrames::DwarfFrames(ElfFile* file, bool unit_tables) : file_(file), unit_tables_(unit_tables) {}

DwarfFrames::~DwarfFrames() = default;

DwarfImage* DwarfFrames::image() {
  if (!image_tried_) {
    image_tried_ = true;
    image_ = DwarfImage::create(file_);
  }
  return image_.get();
}

void DwarfFrames::read_ranges() {
  if (read_cached_unit_ranges(file_->build_id(), file_->size(), &ranges_)) return;
  DwarfImage* dwarf = image();
  if (dwarf == nullptr) return;
  dwarf->ensure_whole_sections();
  if (dwarf->present(DwarfImage::kAranges)) read_aranges(dwarf);
  else read_unit_ranges(dwarf);
  std::sort(ranges_.begin(), ranges_.end(),
            [](const UnitRange& a, const UnitRange& b) { return a.low < b.low; });
  save_unit_ranges(file_->build_id(), file_->size(), ranges_);
}

void DwarfFrames::read_aranges(DwarfImage* dwarf) {
  std::string_view data = dwarf->data(DwarfImage::kAranges);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  const uint64_t size = data.size();
  uint64_t at = 0;
  while (size - at >= 4) {
    uint32_t length32;
    memcpy(&length32, bytes + at, 4);
    uint64_t length = length32, header = 4, offset_size = 4;
    if (length32 == 0xffffffff) {
      if (size - at < 12) break;
      memcpy(&length, bytes + at + 4, 8);
      header = 12;
      offset_size = 8;
    }
    if (length > size - at - header) break;
    const uint64_t set = at, end = at + header + length;
    at = end;
    uint64_t p = set + header;
    if (end - p < 2 + offset_size + 2) continue;
    uint16_t version;
    memcpy(&version, bytes + p, 2);
    uint64_t unit = 0;
    memcpy(&unit, bytes + p + 2, offset_size);
    const uint8_t address_size = bytes[p + 2 + offset_size];
    const uint8_t segment_size = bytes[p + 3 + offset_size];
    if (version != 2 || (address_size != 8 && address_size != 4) || segment_size != 0) continue;
    const uint64_t tuple = 2 * address_size;
    p = set + (header + 4 + offset_size + tuple - 1) / tuple * tuple;  // tuples are aligned
    for (; p <= end && end - p >= tuple; p += tuple) {
      uint64_t low = 0, span = 0;
      memcpy(&low, bytes + p, address_size);
      memcpy(&span, bytes + p + address_size, address_size);
      if (low == 0 && span == 0) break;
      if (span > 0) ranges_.push_back({low, low + span, unit});
    }
  }
}

// Without .debug_aranges: each unit's own ranges, which means reading every
// unit's first DIE (and so inflating all of a compressed .debug_info).
void DwarfFrames::read_unit_ranges(DwarfImage* dwarf) {
  Dwarf* dbg = dwarf->dwarf();
  Dwarf_Off offset = 0, next;
  size_t header_size;
  while (dwarf->ensure_unit(offset) &&
         dwarf_next_unit(dbg, offset, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                         nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(dbg, offset + header_size, &cu) != nullptr) {
      Dwarf_Addr base, low, high;
      ptrdiff_t at = 0;
      while ((at = dwarf_ranges(&cu, at, &base, &low, &high)) > 0)
        if (high > low) ranges_.push_back({low, high, offset});
    }
    offset = next;
  }
}

bool DwarfFrames::unit_of(uint64_t address, uint64_t* unit) const {
  auto after = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                                [](uint64_t a, const UnitRange& r) { return a < r.low; });
  for (int back = 0; back < kOverlapLookBack && after != ranges_.begin(); back++) {
    --after;
    if (address < after->high) {
      *unit = after->unit;
      return true;
    }
  }
  return false;
}

bool DwarfFrames::frames(uint64_t address, std::string_view symbol, std::vector<SourceFrame>* out) {
  out->clear();
  if (!ranges_read_) {
    ranges_read_ = true;
    read_ranges();
  }
  uint64_t unit;
  if (!unit_of(address, &unit)) return false;
  auto found = tables_.find(unit);
  if (found == tables_.end())
    found = tables_.emplace(unit, unit_tables_ ? unit_table(unit) : nullptr).first;
  if (found->second) return found->second->frames(address, symbol, out);
  return walk_unit(unit, address, symbol, out);
}

void DwarfFrames::reading_unit(uint64_t unit) {
  if (unit == last_read_unit_) return;
  if (last_read_unit_ != UINT64_MAX) image_->release_read_pages();
  last_read_unit_ = unit;
}

bool DwarfFrames::open_unit(uint64_t unit, Dwarf_Die* cu, uint8_t* offset_size) {
  if (image() == nullptr) return false;
  reading_unit(unit);
  // The unit alone when it can be read so (dwarf_image.h), at offset 0.
  Dwarf* dbg = image_->unit_view(unit);
  if (dbg != nullptr) {
    unit = 0;
  } else {
    if (!image_->ensure_unit(unit)) return false;
    dbg = image_->dwarf();
  }
  Dwarf_Off next;
  size_t header_size;
  *offset_size = 4;
  return dwarf_next_unit(dbg, unit, &next, &header_size, nullptr, nullptr, nullptr, offset_size,
                         nullptr, nullptr) == 0 &&
         dwarf_offdie(dbg, unit + header_size, cu) != nullptr;
}

bool DwarfFrames::open_line_table(Dwarf_Die* cu, uint8_t offset_size) {
  uint64_t line_table;
  return stmt_list_offset(cu, offset_size, &line_table) && image_->ensure_line_table(line_table);
}

std::unique_ptr<UnitFrames> DwarfFrames::unit_table(uint64_t unit) {
  const ElfFile& file = *file_;
  if (std::unique_ptr<UnitFrames> cached = map_cached_unit_frames(file.build_id(), file.size(), unit)) {
    unit_counts_.mapped++;
    return cached;
  }
  Dwarf_Die cu;
  uint8_t offset_size;
  if (!open_unit(unit, &cu, &offset_size)) return nullptr;
  std::unique_ptr<UnitFrames> table = UnitFrames::build(&cu, open_line_table(&cu, offset_size));
  if (!table) return nullptr;  // walked next: its pages are still wanted
  // The table holds all the unit gives: nothing read for it is needed again.
  image_->release_read_pages();
  last_read_unit_ = UINT64_MAX;
  unit_counts_.built++;
  save_unit_frames(file.build_id(), file.size(), unit, *table);
  return table;
}

bool DwarfFrames::walk_unit(uint64_t unit, uint64_t address, std::string_view symbol,
                            std::vector<SourceFrame>* out) {
  unit_counts_.walked++;
  Dwarf_Die cu;
  uint8_t offset_size;
  if (!open_unit(unit, &cu, &offset_size)) return false;
  std::string file;
  int64_t line = 0;
  if (open_line_table(&cu, offset_size)) {
    if (Dwarf_Line* l = dwarf_getsrc_die(&cu, address)) {
      int lineno = 0;
      if (const char* f = dwarf_linesrc(l, nullptr, nullptr)) file = absolute_source_path(&cu, f);
      if (dwarf_lineno(l, &lineno) == 0) line = lineno;
    }
  }
  std::vector<Dwarf_Die> scopes;
  append_scopes(&cu, address, 0, &scopes);
  std::deque<std::string> strings;  // what `chain` points into
  std::vector<CodeScope> chain;
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
    CodeScope scope;
    scope.tag = dwarf_tag(&*it);
    if (scope.tag == DW_TAG_subprogram || scope.tag == DW_TAG_inlined_subroutine) {
      scope.name = strings.emplace_back(die_linkage_name(&*it));
      scope.decl_line = die_decl_line(&*it);
    }
    if (scope.tag == DW_TAG_inlined_subroutine) {
      scope.call_file = strings.emplace_back(call_file(&cu, &*it));
      scope.call_line = call_line(&*it);
    }
    chain.push_back(scope);
  }
  return frames_from_scopes(chain, file, line, symbol, out);
}

}  // namespace ppagent
