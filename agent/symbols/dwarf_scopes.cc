#include "symbols/dwarf_scopes.h"

#include <dwarf.h>

namespace ppagent {

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

bool is_addressless_block(Dwarf_Die* die, int tag) {
  return tag == DW_TAG_lexical_block && !dwarf_hasattr(die, DW_AT_low_pc) &&
         !dwarf_hasattr(die, DW_AT_ranges);
}

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

namespace {

SourceFrame make_frame(std::string_view system_name, std::string_view file, int64_t line,
                       int64_t start_line) {
  SourceFrame f;
  f.system_name = std::string(system_name);
  f.file = std::string(file);
  f.line = line;
  f.start_line = start_line;
  return f;
}

}  // namespace

bool frames_from_scopes(const std::vector<CodeScope>& innermost_first, std::string_view file,
                        int64_t line, std::string_view symbol, std::vector<SourceFrame>* out) {
  out->clear();
  for (const CodeScope& scope : innermost_first) {
    if (scope.tag == DW_TAG_inlined_subroutine) {
      out->push_back(make_frame(scope.name, file, line, scope.decl_line));
      // The next frame out is the caller, at the call site of this inline.
      file = scope.call_file;
      line = scope.call_line;
    } else if (scope.tag == DW_TAG_subprogram) {
      out->push_back(make_frame(symbol.empty() ? scope.name : symbol, file, line, scope.decl_line));
      return true;
    }
  }
  // Code without a subprogram DIE (assembly): the symbol's name, with the
  // line when there is one.
  if (symbol.empty()) {
    out->clear();
    return false;
  }
  out->push_back(make_frame(symbol, file, line, 0));
  return true;
}

}  // namespace ppagent
