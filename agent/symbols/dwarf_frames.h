// Functions, files, lines and inlined calls for file-relative addresses of
// one module, from its DWARF (its own or its separate debug file's).
//
// The unit holding an address is found in .debug_aranges, parsed here (libdw's
// own aranges reader takes in every unit of the file, which would need all of
// .debug_info); modules without .debug_aranges (clang's default) get a table
// of their units' ranges built once from all units. Either way the ranges are
// kept in the build-id cache (unit_ranges_cache.h) for later processes.
//
// A unit's frames come from its table (unit_frames.h), built on the first
// address that falls in the unit and kept, or mapped from the build-id cache
// (unit_frames_cache.h) when an earlier process wrote it; a unit the table
// cannot represent is walked with libdw for each address.
//
// The DWARF image (dwarf_image.h) is opened on the first lookup that has to
// read DWARF, not before: with the ranges and the units' tables cached, none
// is, and the process neither maps the inflated sections nor starts libdw.
//
// The file pages read for a unit are let go (DwarfImage::release_read_pages)
// once its table is built, or, for a unit walked, when another unit's DWARF
// is read: in a postgres backend's exit write, the lookups in libc had left
// up to 4.8 MB of its cached DWARF resident, on top of the backend's own peak.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "symbols/dwarf_image.h"
#include "symbols/source_frame.h"
#include "symbols/unit_frames.h"
#include "symbols/unit_ranges_cache.h"

namespace ppagent {

class DwarfFrames {
 public:
  // The DWARF of `file` (which must outlive this), of which it must have
  // some. `unit_tables` false: every unit is walked, as one the table cannot
  // represent is (tests compare the two).
  explicit DwarfFrames(ElfFile* file, bool unit_tables = true);
  ~DwarfFrames();

  // The frames at `address`, innermost inlined callee first, the function
  // the code belongs to last, named `symbol` when given (the symbol table has
  // the full linkage name) and by its DIE otherwise; `name` is left empty.
  // False when the DWARF does not cover the address.
  bool frames(uint64_t address, std::string_view symbol, std::vector<SourceFrame>* out);

  // Whether the DWARF image has been opened, and what it inflated so far.
  bool image_opened() const { return image_ != nullptr; }
  uint64_t inflated_bytes() const { return image_ ? image_->inflated_bytes() : 0; }

  // Units whose frames came from a table built here, from one mapped from
  // the cache, and lookups by walking a unit without a table.
  struct UnitCounts {
    uint64_t built = 0, mapped = 0, walked = 0;
  };
  const UnitCounts& unit_counts() const { return unit_counts_; }

 private:
  // The image, opened on first use; nullptr when it cannot be.
  DwarfImage* image();
  void read_ranges();
  void read_aranges(DwarfImage* image);
  void read_unit_ranges(DwarfImage* image);
  bool unit_of(uint64_t address, uint64_t* unit) const;
  // Before reading `unit`'s DWARF: lets go of what the last unit read.
  void reading_unit(uint64_t unit);
  bool open_unit(uint64_t unit, Dwarf_Die* cu, uint8_t* offset_size);
  bool open_line_table(Dwarf_Die* cu, uint8_t offset_size);
  std::unique_ptr<UnitFrames> unit_table(uint64_t unit);
  bool walk_unit(uint64_t unit, uint64_t address, std::string_view symbol,
                 std::vector<SourceFrame>* out);

  ElfFile* const file_;
  std::unique_ptr<DwarfImage> image_;
  bool image_tried_ = false;
  std::vector<UnitRange> ranges_;  // sorted by low
  bool ranges_read_ = false;
  const bool unit_tables_;
  // By unit offset; nullptr: walked instead (see above).
  std::unordered_map<uint64_t, std::unique_ptr<UnitFrames>> tables_;
  UnitCounts unit_counts_;
  uint64_t last_read_unit_ = UINT64_MAX;  // whose DWARF was read last, none yet
};


}  // namespace ppagent
