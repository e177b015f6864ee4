#include "symbols/dwarf_image.h"

#include <dwarf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "symbols/inflated_section_cache.h"

namespace ppagent {

namespace {

struct KnownSection {
  const char* name;  // without ".debug" / ".zdebug"
  DwarfImage::Section id;
};

// What the image holds. Everything else libdw knows (.debug_loc,
// .debug_loclists, .debug_frame, .debug_macro, .debug_macinfo,
// .debug_pubnames) it never sees.
constexpr KnownSection kKnownSections[] = {
    {"_info", DwarfImage::kInfo},         {"_abbrev", DwarfImage::kAbbrev},
    {"_line", DwarfImage::kLine},         {"_str", DwarfImage::kStr},
    {"_line_str", DwarfImage::kLineStr},  {"_aranges", DwarfImage::kAranges},
    {"_ranges", DwarfImage::kRanges},     {"_rnglists", DwarfImage::kRnglists},
    {"_addr", DwarfImage::kAddr},         {"_str_offsets", DwarfImage::kStrOffsets},
    {"_types", DwarfImage::kTypes},
};

constexpr const char* kImageNames[DwarfImage::kSectionCount] = {
    ".debug_info",   ".debug_abbrev",  ".debug_line",        ".debug_str",
    ".debug_line_str", ".debug_aranges", ".debug_ranges",    ".debug_rnglists",
    ".debug_addr",   ".debug_str_offsets", ".debug_types",   ".gnu_debugaltlink",
};

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// .debug_info read for unit headers only is let go in steps of this much.
constexpr uint64_t kInfoStep = 256 * 1024;
// A unit in what was let go is inflated again from the resume point before
// it, at most this far back (each point keeps 32 KiB).
constexpr size_t kResumeSpacing = 1024 * 1024;
// Times that is done for one image before all of .debug_info is kept
// instead: lookups in address order need few (units mostly follow the
// code's order), lookups in any order would need one per unit.
constexpr int kMaxResumes = 16;

enum class Encoding { kPlain, kElfZlib, kGnuZlib };

struct PlannedSection {
  DwarfImage::Section id;
  size_t file_index;       // in the file's section headers
  Encoding encoding;
  uint64_t size;           // uncompressed
  uint64_t stream_offset;  // of the compressed stream in the file
  uint64_t stream_size;
  uint64_t room_offset;    // of the inflated bytes, from the start of the room
};

struct Layout {
  std::vector<PlannedSection> sections;
  uint64_t headers_size = 0;  // section headers and their names, at the start of the room
  uint64_t copies_offset = 0, copies_size = 0;  // room for units copied out of .debug_info
  uint64_t room = 0;
};

// Which image section a file section is, and how it is stored.
bool classify(const ElfFile& file, size_t index, PlannedSection* out) {
  std::string_view name = file.section_name(index);
  const Elf64_Shdr& shdr = file.section(index);
  if (shdr.sh_type == SHT_NOBITS || !file.contains(shdr.sh_offset, shdr.sh_size)) return false;
  out->file_index = index;
  out->stream_offset = shdr.sh_offset;
  out->stream_size = shdr.sh_size;
  out->size = shdr.sh_size;
  out->encoding = Encoding::kPlain;
  if (name == ".gnu_debugaltlink") {
    out->id = DwarfImage::kAltLink;
    return true;
  }
  bool gnu = false;
  if (name.substr(0, 7) == ".zdebug") {
    gnu = true;
    name.remove_prefix(7);
  } else if (name.substr(0, 6) == ".debug") {
    name.remove_prefix(6);
  } else {
    return false;
  }
  const KnownSection* known = nullptr;
  for (const KnownSection& k : kKnownSections)
    if (name == k.name) known = &k;
  if (known == nullptr) return false;
  out->id = known->id;
  const uint8_t* data = file.at(shdr.sh_offset);
  if (shdr.sh_flags & SHF_COMPRESSED) {
    Elf64_Chdr chdr;
    if (shdr.sh_size < sizeof chdr) return false;
    memcpy(&chdr, data, sizeof chdr);
    if (chdr.ch_type != ELFCOMPRESS_ZLIB) return false;  // zstd and others: not read
    out->encoding = Encoding::kElfZlib;
    out->size = chdr.ch_size;
    out->stream_offset += sizeof chdr;
    out->stream_size -= sizeof chdr;
  } else if (gnu) {
    // "ZLIB", the uncompressed size big-endian in 8 bytes, the stream.
    if (shdr.sh_size < 12 || memcmp(data, "ZLIB", 4) != 0) return false;
    uint64_t size = 0;
    for (int i = 4; i < 12; i++) size = size << 8 | data[i];
    out->encoding = Encoding::kGnuZlib;
    out->size = size;
    out->stream_offset += 12;
    out->stream_size -= 12;
  }
  return true;
}

bool plan(const ElfFile& file, Layout* layout) {
  bool seen[DwarfImage::kSectionCount] = {};
  for (size_t i = 0; i < file.section_count(); i++) {
    PlannedSection s;
    if (!classify(file, i, &s) || seen[s.id]) continue;
    seen[s.id] = true;
    layout->sections.push_back(s);
  }
  if (!seen[DwarfImage::kInfo] || !seen[DwarfImage::kAbbrev]) return false;
  // The null section, one per image section, the names' table.
  const uint64_t header_count = layout->sections.size() + 2;
  uint64_t names_size = 1 + sizeof ".shstrtab";
  for (const PlannedSection& s : layout->sections) names_size += strlen(kImageNames[s.id]) + 1;
  layout->headers_size = header_count * sizeof(Elf64_Shdr) + names_size;
  uint64_t at = round_up(layout->headers_size, page_size());
  for (PlannedSection& s : layout->sections) {
    if (s.encoding == Encoding::kPlain) continue;
    s.room_offset = at;
    at += round_up(s.size, page_size());
    if (s.id == DwarfImage::kInfo) layout->copies_size = round_up(s.size, page_size());
  }
  layout->copies_offset = at;
  layout->room = at + layout->copies_size;
  return true;
}

// Reads an unsigned LEB128 at `*at` through `byte(i)`, which returns -1 past
// what can be read.
template <typename ByteAt>
bool read_uleb(ByteAt byte, uint64_t* at, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    int b = byte((*at)++);
    if (b < 0) return false;
    *value |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// A unit header of .debug_info at `start`, of which `readable` bytes of the
// section's `size` can be read now (24 past `start` cover every header).
struct UnitHeader {
  uint64_t end;     // of the unit
  uint64_t abbrev;  // its abbreviation table's offset
};
bool read_unit_header(const uint8_t* info, uint64_t readable, uint64_t size, uint64_t start,
                      UnitHeader* out) {
  if (start >= readable || readable - start < 11) return false;
  const uint8_t* p = info + start;
  uint32_t length32;
  memcpy(&length32, p, 4);
  uint64_t length = length32, header = 4;
  size_t offset_size = 4;
  if (length32 == 0xffffffff) {
    if (readable - start < 24) return false;
    memcpy(&length, p + 4, 8);
    header = 12;
    offset_size = 8;
  }
  uint16_t version;
  memcpy(&version, p + header, 2);
  if (length == 0 || version < 2 || version > 5 || length > size - start - header) return false;
  // DWARF 5: unit_type, address_size, abbrev offset; before: abbrev offset first.
  out->abbrev = 0;
  memcpy(&out->abbrev, p + header + (version >= 5 ? 4 : 2), offset_size);
  out->end = start + header + length;
  return true;
}

// Walks the abbreviation table at `offset` through `byte(i)` (-1 past what
// can be read): entries are code, tag, children flag, then (attribute,
// form[, implicit const]) pairs up to (0, 0); a zero code ends the table.
// False when it cannot be read whole, or `form_ok` refuses a form.
template <typename ByteAt, typename FormOk>
bool walk_abbrev_table(ByteAt byte, uint64_t offset, FormOk form_ok) {
  uint64_t at = offset, code, value;
  while (true) {
    if (!read_uleb(byte, &at, &code)) return false;
    if (code == 0) return true;
    if (!read_uleb(byte, &at, &value) || byte(at++) < 0) return false;  // tag, children
    uint64_t name, form;
    do {
      if (!read_uleb(byte, &at, &name) || !read_uleb(byte, &at, &form) || !form_ok(form))
        return false;
      if (form == DW_FORM_implicit_const && !read_uleb(byte, &at, &value)) return false;
    } while (name != 0 || form != 0);
  }
}

}  // namespace

size_t dwarf_image_room(const ElfFile& file) {
  Layout layout;
  return plan(file, &layout) ? layout.room : 0;
}

std::unique_ptr<DwarfImage> DwarfImage::create(ElfFile* file) {
  Layout layout;
  if (!plan(*file, &layout) || file->image_room() < layout.room) return nullptr;
  uint8_t* room = file->writable(file->image_offset());
  if (mprotect(room, layout.room, PROT_READ | PROT_WRITE) != 0) return nullptr;

  std::unique_ptr<DwarfImage> image(new DwarfImage);
  image->file_ = file;

  // The section headers and their names, at the start of the room.
  const size_t count = layout.sections.size() + 2;
  auto* headers = reinterpret_cast<Elf64_Shdr*>(room);
  char* names = reinterpret_cast<char*>(room + count * sizeof(Elf64_Shdr));
  size_t names_at = 1;  // names[0] = "": the null section's
  std::vector<SectionToInflate> to_inflate;
  for (size_t i = 0; i < layout.sections.size(); i++) {
    const PlannedSection& s = layout.sections[i];
    const Elf64_Shdr& original = file->section(s.file_index);
    Elf64_Shdr& h = headers[i + 1];
    h.sh_name = static_cast<Elf64_Word>(names_at);
    names_at += strlen(strcpy(names + names_at, kImageNames[s.id])) + 1;
    h.sh_type = SHT_PROGBITS;
    h.sh_flags = original.sh_flags & ~static_cast<Elf64_Xword>(SHF_COMPRESSED | SHF_ALLOC);
    h.sh_addr = 0;
    h.sh_size = s.size;
    h.sh_addralign = 1;
    Part& part = image->parts_[s.id];
    part.present = true;
    part.header_index = i + 1;
    part.size = s.size;
    if (s.encoding == Encoding::kPlain) {
      h.sh_offset = original.sh_offset;
      part.data = file->writable(original.sh_offset);
    } else {
      h.sh_offset = file->image_offset() + s.room_offset;
      part.data = room + s.room_offset;
      part.compressed = true;
      to_inflate.push_back({s.id, file->at(s.stream_offset), s.stream_size, s.size, part.data});
    }
  }
  // Whole from the cache shared by all processes (inflated_section_cache.h),
  // else each in part, as lookups need it.
  if (!to_inflate.empty() && map_inflated_sections(file->build_id(), file->size(), to_inflate)) {
    for (const SectionToInflate& s : to_inflate) {
      image->parts_[s.id].compressed = false;
      image->parts_[s.id].from_cache = true;
    }
  } else {
    for (const SectionToInflate& s : to_inflate)
      if (!image->parts_[s.id].inflater.start(s.stream, s.stream_size, s.target, s.size))
        return nullptr;
    image->parts_[kInfo].inflater.keep_resume_points(kResumeSpacing);
  }
  Elf64_Shdr& names_header = headers[count - 1];
  names_header.sh_name = static_cast<Elf64_Word>(names_at);
  strcpy(names + names_at, ".shstrtab");
  names_header.sh_type = SHT_STRTAB;
  names_header.sh_offset = file->image_offset() + count * sizeof(Elf64_Shdr);
  names_header.sh_size = names_at + sizeof ".shstrtab";
  names_header.sh_addralign = 1;

  // The header, in the file's first page (a private copy once written),
  // points at those headers. The program headers are not part of the image.
  uint8_t* first_page = file->writable(0);
  if (mprotect(first_page, page_size(), PROT_READ | PROT_WRITE) != 0) return nullptr;
  auto* ehdr = reinterpret_cast<Elf64_Ehdr*>(first_page);
  ehdr->e_shoff = file->image_offset();
  ehdr->e_shnum = static_cast<Elf64_Half>(count);
  ehdr->e_shstrndx = static_cast<Elf64_Half>(count - 1);
  ehdr->e_shentsize = sizeof(Elf64_Shdr);
  ehdr->e_phoff = 0;
  ehdr->e_phnum = 0;
  mprotect(first_page, page_size(), PROT_READ);

  elf_version(EV_CURRENT);
  image->headers_ = headers;
  image->copies_ = room + layout.copies_offset;
  image->copies_image_offset_ = file->image_offset() + layout.copies_offset;
  image->copies_size_ = layout.copies_size;
  image->first_page_ = first_page;
  image->image_size_ = file->image_offset() + layout.room;
  image->elf_ = elf_memory(reinterpret_cast<char*>(first_page), image->image_size_);
  if (image->elf_ == nullptr) return nullptr;
  image->dwarf_ = dwarf_begin_elf(image->elf_, DWARF_C_READ, nullptr);
  if (image->dwarf_ == nullptr) return nullptr;
  for (Part& part : image->parts_) {
    if (!part.present) continue;
    // The descriptor libdw keeps for the section (elf_getdata returns the
    // same one every time).
    part.elf_data = elf_getdata(elf_getscn(image->elf_, part.header_index), nullptr);
    if (part.elf_data == nullptr) return nullptr;
    if (part.compressed) image->expose(static_cast<Section>(&part - image->parts_), 0);
  }
  return image;
}

DwarfImage::~DwarfImage() {
  for (auto& [offset, view] : views_) {
    if (view.dwarf) dwarf_end(view.dwarf);
    if (view.elf) elf_end(view.elf);
  }
  if (dwarf_) dwarf_end(dwarf_);
  if (elf_) elf_end(elf_);
}

uint64_t DwarfImage::available(Section s) const {
  const Part& part = parts_[s];
  if (!part.present) return 0;
  return part.compressed ? part.inflater.done() : part.size;
}

std::string_view DwarfImage::data(Section s) const {
  return std::string_view(reinterpret_cast<const char*>(parts_[s].data), available(s));
}

size_t DwarfImage::inflated_bytes() const {
  size_t total = 0;
  for (const Part& part : parts_)
    if (part.compressed) total += part.inflater.done();
  return total;
}

void DwarfImage::release_read_pages() const {
  for (const Part& part : parts_)
    if (part.from_cache) madvise(part.data, round_up(part.size, page_size()), MADV_DONTNEED);
  file_->release_read_pages();
}

bool DwarfImage::inflate(Section s, uint64_t end) {
  Part& part = parts_[s];
  if (!part.present || end > part.size) return false;
  if (!part.compressed) return true;
  return part.inflater.inflate_to(end);
}

void DwarfImage::expose(Section s, uint64_t size) {
  Part& part = parts_[s];
  if (part.elf_data != nullptr) part.elf_data->d_size = size;
}

void DwarfImage::ensure_whole_sections() {
  for (Section s : {kStr, kLineStr, kAranges, kRanges, kRnglists, kAddr, kStrOffsets, kTypes}) {
    Part& part = parts_[s];
    if (!part.present || !part.compressed) continue;
    part.inflater.inflate_to(part.size);
    expose(s, part.inflater.done());
  }
}

// Reads unit headers of .debug_info from where the last scan ended through
// the unit holding `offset`, inflating as it goes.
bool DwarfImage::scan_units_through(uint64_t offset) {
  const Part& info = parts_[kInfo];
  while (!units_broken_ && units_end_ <= offset && units_end_ < info.size) {
    const uint64_t start = units_end_;
    // The longest header this reads: 64-bit lengths, a DWARF 5 header.
    UnitHeader unit;
    if (!inflate_info(std::min(info.size, start + 24), start) ||
        !read_unit_header(info.data, available(kInfo), info.size, start, &unit) ||
        !inflate_info(unit.end, start)) {
      units_broken_ = true;
      break;
    }
    const uint64_t upto =
        units_.empty() ? unit.abbrev : std::max(units_.back().abbrev_upto, unit.abbrev);
    units_.push_back({start, unit.end, upto});
    units_end_ = unit.end;
  }
  return units_end_ > offset;
}

bool DwarfImage::ensure_unit(uint64_t offset) {
  if (!keep_info()) {
    units_broken_ = true;
    return false;
  }
  return prepare_unit(offset, nullptr);
}

bool DwarfImage::prepare_unit(uint64_t offset, uint64_t* end) {
  if (!parts_[kInfo].compressed && !parts_[kAbbrev].compressed) return true;
  if (!scan_units_through(offset)) return false;
  auto unit = std::lower_bound(units_.begin(), units_.end(), offset,
                               [](const Unit& u, uint64_t o) { return u.end <= o; });
  if (unit == units_.end() || unit->start != offset) return false;
  if (end != nullptr) *end = unit->end;
  // libdw reads only whole units: up to the end of the last one scanned.
  if (parts_[kInfo].compressed) expose(kInfo, units_end_);
  return !parts_[kAbbrev].compressed || ensure_abbrev_table(unit->abbrev_upto);
}

// The abbreviation table at `offset`, inflated whole.
bool DwarfImage::ensure_abbrev_table(uint64_t offset) {
  const Part& part = parts_[kAbbrev];
  auto byte = [&](uint64_t at) -> int {
    if (at >= available(kAbbrev) && !inflate(kAbbrev, std::min(part.size, at + 1))) return -1;
    return at < available(kAbbrev) ? part.data[at] : -1;
  };
  if (!walk_abbrev_table(byte, offset, [](uint64_t) { return true; })) return false;
  expose(kAbbrev, available(kAbbrev));
  return true;
}

bool DwarfImage::ensure_line_table(uint64_t offset) {
  const Part& part = parts_[kLine];
  if (!part.present) return false;
  if (!part.compressed) return true;
  if (offset >= part.size || !inflate(kLine, std::min(part.size, offset + 12))) return false;
  uint32_t length32;
  memcpy(&length32, part.data + offset, 4);
  uint64_t end = offset + 4 + length32;
  if (length32 == 0xffffffff) {
    uint64_t length;
    memcpy(&length, part.data + offset + 4, 8);
    end = length > part.size ? part.size + 1 : offset + 12 + length;
  }
  if (end > part.size || !inflate(kLine, end)) return false;
  expose(kLine, available(kLine));
  return true;
}

bool DwarfImage::all_sections_whole() const {
  for (const Part& part : parts_)
    if (part.present && part.compressed && part.inflater.done() != part.size) return false;
  return parts_[kInfo].present && parts_[kAbbrev].present;
}

// Whether the abbreviations at `offset` let a unit's DIEs refer only to
// their own unit and to the string, line, range and address sections.
bool DwarfImage::abbrevs_stay_inside(uint64_t offset) const {
  const Part& part = parts_[kAbbrev];
  const uint64_t readable = available(kAbbrev);
  auto byte = [&](uint64_t at) -> int { return at < readable ? part.data[at] : -1; };
  return walk_abbrev_table(byte, offset, [](uint64_t form) {
    switch (form) {
      case DW_FORM_ref_addr:      // into another unit
      case DW_FORM_indirect:      // any form, chosen per DIE
      case DW_FORM_ref_sig8:      // a type unit
      case DW_FORM_ref_sup4:      // the supplementary (dwz) file
      case DW_FORM_ref_sup8:
      case DW_FORM_strp_sup:
      case DW_FORM_GNU_ref_alt:
      case DW_FORM_GNU_strp_alt:
        return false;
      default:
        return true;
    }
  });
}

Dwarf* DwarfImage::unit_view(uint64_t offset) {
  auto found = views_.find(offset);
  if (found != views_.end()) return found->second.dwarf;
  View& view = views_[offset];
  const Part& info = parts_[kInfo];
  if (!all_sections_whole()) {
    ensure_whole_sections();
    uint64_t end = 0;
    if (!prepare_unit(offset, &end) || (info.compressed && !info_present(offset, end)))
      return nullptr;
  }
  UnitHeader unit;
  if (!read_unit_header(info.data, available(kInfo), info.size, offset, &unit) ||
      unit.end > available(kInfo) || unit.abbrev >= available(kAbbrev) ||
      !abbrevs_stay_inside(unit.abbrev))
    return nullptr;

  // The image's .debug_info header narrowed to the unit while libelf and
  // libdw read it: each takes the section's bounds when its Dwarf is made,
  // and keeps them. A unit of a section inflated in part is read from a copy
  // of its own, so that the inflated section around it can be let go.
  const uint64_t length = unit.end - offset;
  const bool copied = info.compressed;
  uint64_t at = offset;
  if (copied) {
    if (copies_size_ - copies_used_ < length) return nullptr;
    memcpy(copies_ + copies_used_, info.data + offset, length);
    at = copies_used_;
  }
  Elf64_Shdr& shdr = headers_[info.header_index];
  const Elf64_Shdr whole = shdr;
  shdr.sh_offset = (copied ? copies_image_offset_ : whole.sh_offset) + at;
  shdr.sh_size = length;
  view.elf = elf_memory(reinterpret_cast<char*>(first_page_), image_size_);
  if (view.elf != nullptr) view.dwarf = dwarf_begin_elf(view.elf, DWARF_C_READ, nullptr);
  shdr = whole;
  if (view.dwarf == nullptr && view.elf != nullptr) {
    elf_end(view.elf);
    view.elf = nullptr;
  }
  if (view.dwarf != nullptr && copied) copies_used_ += round_up(length, 8);
  return view.dwarf;
}

bool DwarfImage::inflate_info(uint64_t end, uint64_t keep_from) {
  Part& info = parts_[kInfo];
  if (!info.present || end > info.size) return false;
  if (!info.compressed) return true;
  if (info_kept_) return info.inflater.inflate_to(end);
  while (info.inflater.done() < end) {
    if (!info.inflater.inflate_to(std::min(end, info.inflater.done() + kInfoStep))) return false;
    drop_info_before(std::min<uint64_t>(keep_from, info.inflater.done()));
  }
  return true;
}

void DwarfImage::drop_info_before(uint64_t offset) {
  const uint64_t upto = offset / page_size() * page_size();
  if (info_kept_ || upto < dropped_upto_ + kInfoStep) return;
  madvise(parts_[kInfo].data + dropped_upto_, upto - dropped_upto_, MADV_DONTNEED);
  dropped_upto_ = upto;
}

bool DwarfImage::info_present(uint64_t start, uint64_t end) {
  if (start < dropped_upto_) {
    if (resumes_ >= kMaxResumes) return keep_info() && inflate_info(end, start);
    resumes_++;
    SectionInflater& inflater = parts_[kInfo].inflater;
    if (!inflater.resume_at(start)) return false;
    // Nothing from done() on is known to be there; the page it is on is
    // counted as let go.
    dropped_upto_ = round_up(inflater.done(), page_size());
  }
  return inflate_info(end, start);
}

bool DwarfImage::keep_info() {
  if (!parts_[kInfo].compressed || info_kept_) return true;
  info_kept_ = true;
  SectionInflater& inflater = parts_[kInfo].inflater;
  if (dropped_upto_ > 0 && !inflater.resume_at(0)) return false;
  dropped_upto_ = 0;
  return inflater.inflate_to(units_end_);
}

}  // namespace ppagent
