// The DWARF of one ELF file, handed to libdw as an ELF image in memory that
// holds only the sections a lookup of functions, files and lines reads.
//
// Why: libdw inflates every compressed debug section when a Dwarf is opened.
// Debian's libc6-dbg compresses 10 MB of DWARF into 4 MB, and almost every
// profile has a libc frame: opening it that way costs ~80 ms of CPU and 10 MB
// of memory per process. Here, libdw is given an image whose section headers
// say "not compressed", and the image is filled lazily:
// - the small sections read from anywhere (.debug_str, .debug_line_str,
//   .debug_aranges, .debug_rnglists, .debug_ranges, .debug_addr,
//   .debug_str_offsets, .debug_types) are inflated whole on first use;
// - .debug_info, .debug_abbrev and .debug_line only up to the end of what the
//   units actually looked up need: libdw reads unit headers in order up to
//   the one it wants, so a prefix is enough, and the zlib stream is kept to
//   go on later;
// - the rest (.debug_loclists, .debug_loc, .debug_macro, .debug_frame, ...)
//   is left out: locations of variables and macros are never needed.
// Uncompressed sections stay where they are in the mapped file: nothing is
// copied. libdw sees how much of a partly inflated section exists through the
// section's Elf_Data d_size, which it checks on every read: a reference past
// what is there (another unit, say) fails cleanly instead of reading zeros.
// .debug_info is only ever shown up to a unit boundary, so libdw never takes
// in a truncated unit.
//
// The image lives in the room ElfFile::open reserved after the file: the
// file's first page (a private copy) gets a header that points at a new
// section header table in that room.
//
// Once the sections are whole (mapped from the cache, or never compressed),
// a unit is read through a Dwarf of its own whose .debug_info is that unit
// alone: libdw finds a unit by reading the header of every unit before it,
// and in libc6-dbg's libc (4,126 units) that touched most of the 8.6 MB of
// .debug_info for a lookup in malloc -- 4.8 MB of resident pages in every
// process whose samples land in libc. Only for units that refer to nothing
// outside themselves (no DW_FORM_ref_addr, type signatures or a dwz file).
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <string_view>
#include <vector>

#include "symbols/elf_file.h"
#include "symbols/section_inflater.h"

namespace ppagent {

class DwarfImage {
 public:
  enum Section : int {
    kInfo, kAbbrev, kLine,  // read up to what is needed
    kStr, kLineStr, kAranges, kRanges, kRnglists, kAddr, kStrOffsets, kTypes,  // whole
    kAltLink,  // .gnu_debugaltlink, never compressed
    kSectionCount
  };

  // nullptr when `file` has no DWARF libdw can take. `file` must outlive the image.
  static std::unique_ptr<DwarfImage> create(ElfFile* file);
  ~DwarfImage();
  DwarfImage(const DwarfImage&) = delete;
  DwarfImage& operator=(const DwarfImage&) = delete;

  Dwarf* dwarf() const { return dwarf_; }
  // The file the DWARF is read from.
  const ElfFile& file() const { return *file_; }

  // Inflates the sections needed whole. Once, before the first lookup.
  void ensure_whole_sections();
  // The unit of .debug_info that starts at `offset`, readable whole, with
  // the abbreviations of every unit up to it. False when there is no such unit.
  bool ensure_unit(uint64_t offset);
  // The line table of .debug_line that starts at `offset`.
  bool ensure_line_table(uint64_t offset);
  // A Dwarf that sees only the unit at `offset` of .debug_info, at offset 0
  // (see above); nullptr when the unit cannot be read that way, and the
  // whole image's dwarf() is to be used after ensure_unit().
  Dwarf* unit_view(uint64_t offset);

  bool present(Section s) const { return parts_[s].present; }
  // The bytes of a section readable now.
  std::string_view data(Section s) const;
  // Bytes inflated so far, all sections together.
  size_t inflated_bytes() const;

 private:
  struct Part {
    bool present = false, compressed = false;
    size_t header_index = 0;     // in the image's section headers
    uint8_t* data = nullptr;     // where libdw reads it
    uint64_t size = 0;           // uncompressed
    SectionInflater inflater;
    Elf_Data* elf_data = nullptr;
  };
  struct Unit {
    uint64_t start, end, abbrev_upto;  // abbrev_upto: highest abbrev offset of units so far
  };
  struct View {
    Elf* elf = nullptr;
    Dwarf* dwarf = nullptr;
  };

  DwarfImage() = default;
  uint64_t available(Section s) const;
  bool inflate(Section s, uint64_t end);  // makes [0, end) readable
  void expose(Section s, uint64_t size);  // what libdw may read
  bool scan_units_through(uint64_t offset);
  bool ensure_abbrev_table(uint64_t offset);
  bool all_sections_whole() const;
  bool abbrevs_stay_inside(uint64_t offset) const;

  ElfFile* file_ = nullptr;
  Elf* elf_ = nullptr;
  Dwarf* dwarf_ = nullptr;
  Elf64_Shdr* headers_ = nullptr;  // the image's section headers, in the room
  uint8_t* first_page_ = nullptr;
  size_t image_size_ = 0;
  Part parts_[kSectionCount];
  std::unordered_map<uint64_t, View> views_;  // by unit offset; a null dwarf: not viewable
  std::vector<Unit> units_;  // of .debug_info, in order, scanned so far
  uint64_t units_end_ = 0;
  bool units_broken_ = false;
};

}  // namespace ppagent
