#include "symbols/dwarf_frames.h"

#include <dwarf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ppagent {

namespace {

// An address may fall in more than one range (a unit's range that encloses
// another's); the nearest few below it are checked.
constexpr int kOverlapLookBack = 4;

std::string die_linkage_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, name, &attr) != nullptr)
      if (const char* s = dwarf_formstring(&attr)) return s;
  }
  return std::string();
}

int64_t die_decl_line(Dwarf_Die* die) {
  int line = 0;
  return dwarf_decl_line(die, &line) == 0 ? line : 0;
}

// "/build/obj" + "../src/a.cc" -> "/build/src/a.cc": pprof shows the path as
// given, and relative paths as compiled mean little away from the build tree.
std::string absolute_source_path(Dwarf_Die* cu, const std::string& path) {
  if (path.empty() || path[0] == '/' || cu == nullptr) return path;
  Dwarf_Attribute attr;
  const char* comp_dir = nullptr;
  if (dwarf_attr(cu, DW_AT_comp_dir, &attr) != nullptr) comp_dir = dwarf_formstring(&attr);
  if (comp_dir == nullptr || comp_dir[0] != '/') return path;
  std::vector<std::string> parts;
  std::string joined = std::string(comp_dir) + "/" + path;
  size_t at = 0;
  while (at <= joined.size()) {
    size_t slash = joined.find('/', at);
    if (slash == std::string::npos) slash = joined.size();
    std::string part = joined.substr(at, slash - at);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    at = slash + 1;
  }
  std::string out;
  for (const std::string& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

// Tags whose DIEs hold code and have its addresses (low/high pc or ranges).
bool is_code_scope(int tag) {
  switch (tag) {
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
    case DW_TAG_entry_point:
    case DW_TAG_try_block:
    case DW_TAG_catch_block:
      return true;
    default:
      return false;
  }
}

// Tags without addresses of their own that may still hold a function's DIE
// (clang puts a namespace's definitions inside the namespace's DIE).
bool may_hold_code_scopes(int tag) {
  switch (tag) {
    case DW_TAG_namespace:
    case DW_TAG_module:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
      return true;
    default:
      return false;
  }
}

constexpr int kMaxNesting = 64;

// Appends to `chain`, outermost first, the code scopes among `parent`'s
// descendants that hold `address`. What dwarf_getscopes finds for the frames
// below, for less: it asks a DIE for its addresses only when the DIE holds
// code, goes into a scope only when the address is in it, and stops at the
// first match; dwarf_getscopes asks every DIE of the unit and then walks the
// unit again for an inlined function's abstract definition, which
// dwarf_attr_integrate reads here anyway. Returns whether any was found.
bool append_scopes(Dwarf_Die* parent, Dwarf_Addr address, int depth, std::vector<Dwarf_Die>* chain) {
  if (depth >= kMaxNesting) return false;
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
      if (tag == DW_TAG_lexical_block && !dwarf_hasattr(&child, DW_AT_low_pc) &&
          !dwarf_hasattr(&child, DW_AT_ranges) && append_scopes(&child, address, depth + 1, chain))
        return true;
    } else if (may_hold_code_scopes(tag) && dwarf_haschildren(&child) > 0) {
      if (append_scopes(&child, address, depth + 1, chain)) return true;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

std::string call_file(Dwarf_Die* cu, Dwarf_Die* inlined) {
  Dwarf_Attribute attr;
  Dwarf_Word index;
  if (dwarf_attr(inlined, DW_AT_call_file, &attr) == nullptr || dwarf_formudata(&attr, &index) != 0)
    return std::string();
  Dwarf_Files* files;
  size_t count;
  if (dwarf_getsrcfiles(cu, &files, &count) != 0 || index >= count) return std::string();
  const char* path = dwarf_filesrc(files, index, nullptr, nullptr);
  return path ? absolute_source_path(cu, path) : std::string();
}

int64_t call_line(Dwarf_Die* inlined) {
  Dwarf_Attribute attr;
  Dwarf_Word line;
  if (dwarf_attr(inlined, DW_AT_call_line, &attr) == nullptr || dwarf_formudata(&attr, &line) != 0)
    return 0;
  return static_cast<int64_t>(line);
}

SourceFrame make_frame(std::string system_name, std::string file, int64_t line, int64_t start_line) {
  SourceFrame f;
  f.system_name = std::move(system_name);
  f.file = std::move(file);
  f.line = line;
  f.start_line = start_line;
  return f;
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

DwarfFrames::DwarfFrames(std::unique_ptr<DwarfImage> image) : image_(std::move(image)) {}

DwarfFrames::~DwarfFrames() = default;

void DwarfFrames::read_aranges() {
  std::string_view data = image_->data(DwarfImage::kAranges);
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
void DwarfFrames::read_unit_ranges() {
  Dwarf* dbg = image_->dwarf();
  Dwarf_Off offset = 0, next;
  size_t header_size;
  while (image_->ensure_unit(offset) &&
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
                                [](uint64_t a, const Range& r) { return a < r.low; });
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
    image_->ensure_whole_sections();
    if (image_->present(DwarfImage::kAranges)) read_aranges();
    else read_unit_ranges();
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.low < b.low; });
  }
  uint64_t unit;
  if (!unit_of(address, &unit)) return false;
  if (unit != last_unit_) {
    if (last_unit_ != UINT64_MAX) image_->release_read_pages();
    last_unit_ = unit;
  }
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
  uint8_t offset_size = 4;
  Dwarf_Die cu;
  if (dwarf_next_unit(dbg, unit, &next, &header_size, nullptr, nullptr, nullptr, &offset_size,
                      nullptr, nullptr) != 0 ||
      dwarf_offdie(dbg, unit + header_size, &cu) == nullptr)
    return false;

  std::string file;
  int64_t line = 0;
  uint64_t line_table;
  if (stmt_list_offset(&cu, offset_size, &line_table) && image_->ensure_line_table(line_table)) {
    if (Dwarf_Line* l = dwarf_getsrc_die(&cu, address)) {
      int lineno = 0;
      if (const char* f = dwarf_linesrc(l, nullptr, nullptr)) file = absolute_source_path(&cu, f);
      if (dwarf_lineno(l, &lineno) == 0) line = lineno;
    }
  }

  std::vector<Dwarf_Die> scopes;
  append_scopes(&cu, address, 0, &scopes);
  bool reached_subprogram = false;
  // Innermost first: each inlined call's caller is the scope around it.
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
    Dwarf_Die* scope = &*it;
    int tag = dwarf_tag(scope);
    if (tag == DW_TAG_inlined_subroutine) {
      out->push_back(make_frame(die_linkage_name(scope), file, line, die_decl_line(scope)));
      // The next frame out is the caller, at the call site of this inline.
      file = call_file(&cu, scope);
      line = call_line(scope);
    } else if (tag == DW_TAG_subprogram) {
      std::string name = symbol.empty() ? die_linkage_name(scope) : std::string(symbol);
      out->push_back(make_frame(std::move(name), file, line, die_decl_line(scope)));
      reached_subprogram = true;
      break;
    }
  }

  if (!reached_subprogram) {
    // Code without a subprogram DIE (assembly): the symbol's name, with
    // the line when there is one.
    if (symbol.empty()) {
      out->clear();
      return false;
    }
    out->push_back(make_frame(std::string(symbol), file, line, 0));
  }
  return true;
}

}  // namespace ppagent
