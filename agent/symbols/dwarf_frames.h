// Functions, files, lines and inlined calls for file-relative addresses of
// one module, from its DWARF (its own or its separate debug file's).
//
// The unit holding an address is found in .debug_aranges, parsed here (libdw's
// own aranges reader takes in every unit of the file, which would need all of
// .debug_info); modules without .debug_aranges (clang's default) get a table
// of their units' ranges built once from all units.
//
// A lookup in another unit than the last lets go of the file pages the last
// one read (DwarfImage::release_read_pages): in a postgres backend's exit
// write, the lookups in libc had left up to 4.8 MB of its cached DWARF
// resident, on top of the backend's own peak.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "symbols/dwarf_image.h"
#include "symbols/source_frame.h"

namespace ppagent {

class DwarfFrames {
 public:
  explicit DwarfFrames(std::unique_ptr<DwarfImage> image);
  ~DwarfFrames();

  // The frames at `address`, innermost inlined callee first, the function
  // the code belongs to last, named `symbol` when given (the symbol table has
  // the full linkage name) and by its DIE otherwise; `name` is left empty.
  // False when the DWARF does not cover the address.
  bool frames(uint64_t address, std::string_view symbol, std::vector<SourceFrame>* out);

  const DwarfImage& image() const { return *image_; }

 private:
  struct Range {
    uint64_t low, high, unit;
  };
  void read_aranges();
  void read_unit_ranges();
  bool unit_of(uint64_t address, uint64_t* unit) const;

  std::unique_ptr<DwarfImage> image_;
  std::vector<Range> ranges_;  // sorted by low
  bool ranges_read_ = false;
  uint64_t last_unit_ = UINT64_MAX;  // of the last lookup, none yet
};


}  // namespace ppagent
