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
// A unit is read through a Dwarf of its own whose .debug_info is that unit
// alone: libdw finds a unit by reading the header of every unit before it,
// and in libc6-dbg's libc (4,126 units) that touched most of the 8.6 MB of
// .debug_info for a lookup in malloc -- 4.8 MB of resident pages in every
// process whose samples land in libc. Only for units that refer to nothing
// outside themselves (no DW_FORM_ref_addr, type signatures or a dwz file).
// While .debug_info is inflated in part (no cache), such a unit is copied
// into room of its own after the sections, and what the scan for it
// inflated of .debug_info before it is let go as the scan goes: only unit
// headers were read there (zlib keeps its own window). In a postgres
// backend without a cache, the inflated prefix of libc's .debug_info (up to
// 5.8 MB) stayed resident, with libdw's record of every unit before the one
// looked up. A unit in what was let go is inflated again from the nearest
// resume point before it (section_inflater.h), 16 times at most, then
// everything is kept; so is all of it for the whole image's dwarf() (units
// that cannot be viewed).
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
  // (see above), with the sections read whole inflated; nullptr when the
  // unit cannot be read that way, and the whole image's dwarf() is to be
  // used after ensure_unit(). The unit's line table is ensure_line_table's.
  Dwarf* unit_view(uint64_t offset);

  bool present(Section s) const { return parts_[s].present; }
  // The bytes of a section readable now.
  std::string_view data(Section s) const;
  // Bytes inflated so far, all sections together.
  size_t inflated_bytes() const;
  // Lets go of the pages read so far from files: the file's
  // (ElfFile::release_read_pages) and the sections mapped from the cache.
  // Inflated memory stays. For a lookup in another unit than the last: what
  // one unit's lookups touch stays resident, not what all of them touched.
  void release_read_pages() const;

 private:
  struct Part {
    bool present = false, compressed = false;
    bool from_cache = false;     // mapped read-only from the cache entry
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
  // ensure_unit without keeping .debug_info; *end: the unit's end.
  bool prepare_unit(uint64_t offset, uint64_t* end);
  // .debug_info inflated through `end`, letting go of what lies before
  // `keep_from` on the way unless info_kept_.
  bool inflate_info(uint64_t end, uint64_t keep_from);
  void drop_info_before(uint64_t offset);
  // [start, end) of .debug_info readable, inflated again if let go.
  bool info_present(uint64_t start, uint64_t end);
  // Everything scanned readable, and kept from now on (the whole image's use).
  bool keep_info();
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
  // Units that views read, copied out of a .debug_info inflated in part.
  uint8_t* copies_ = nullptr;
  uint64_t copies_image_offset_ = 0, copies_size_ = 0, copies_used_ = 0;
  uint64_t dropped_upto_ = 0;  // .debug_info before this was let go (page-aligned)
  int resumes_ = 0;            // of the inflation of .debug_info, for units let go
  bool info_kept_ = false;     // the whole image's dwarf() was asked for a unit: no more drops
};

}  // namespace ppagent
