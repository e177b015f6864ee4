#include "symbolizer.h"

#include <cstdlib>
#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>
#include <vector>

namespace ppagent {

std::string demangle(const std::string& name) {
  if (name.compare(0, 2, "_Z") != 0) return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  free(out);
  return result;
}

namespace {

const Dwfl_Callbacks kCallbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,  // section_address: only for relocatable files
    nullptr,  // debuginfo_path: the default, which includes /usr/lib/debug
};

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

// libdwfl reports versioned symbols as "name@@VERSION"; the version is not
// part of the function's name.
std::string strip_symbol_version(const char* name) {
  std::string s(name);
  size_t at = s.find('@');
  if (at != std::string::npos && at > 0) s.resize(at);
  return s;
}

SourceFrame make_frame(std::string system_name, std::string file, int64_t line, int64_t start_line) {
  SourceFrame f;
  f.name = demangle(system_name);
  f.system_name = std::move(system_name);
  f.file = std::move(file);
  f.line = line;
  f.start_line = start_line;
  return f;
}

}  // namespace

Symbolizer::Symbolizer() {
  dwfl_ = dwfl_begin(&kCallbacks);
  if (dwfl_ == nullptr) return;
  dwfl_report_begin(dwfl_);
  if (dwfl_linux_proc_report(dwfl_, getpid()) != 0 || dwfl_report_end(dwfl_, nullptr, nullptr) != 0) {
    dwfl_end(dwfl_);
    dwfl_ = nullptr;
  }
}

Symbolizer::~Symbolizer() {
  if (dwfl_) dwfl_end(dwfl_);
}

std::vector<SourceFrame> Symbolizer::frames(uintptr_t addr) {
  std::vector<SourceFrame> out;
  if (!dwfl_) return out;
  Dwfl_Module* module = dwfl_addrmodule(dwfl_, addr);
  if (module == nullptr) return out;

  GElf_Off offset = 0;
  GElf_Sym sym;
  const char* versioned = dwfl_module_addrinfo(module, addr, &offset, &sym, nullptr, nullptr, nullptr);
  std::string elf_name_storage = versioned ? strip_symbol_version(versioned) : std::string();
  const char* elf_name = versioned ? elf_name_storage.c_str() : nullptr;

  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, addr, &bias);

  std::string file;
  int64_t line = 0;
  if (Dwfl_Line* l = dwfl_module_getsrc(module, addr)) {
    int lineno = 0;
    if (const char* f = dwfl_lineinfo(l, nullptr, &lineno, nullptr, nullptr, nullptr))
      file = absolute_source_path(cu, f);
    line = lineno;
  }
  Dwarf_Die* scopes = nullptr;
  int nscopes = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
  bool reached_subprogram = false;
  for (int i = 0; i < nscopes; i++) {
    Dwarf_Die* scope = &scopes[i];
    int tag = dwarf_tag(scope);
    if (tag == DW_TAG_inlined_subroutine) {
      out.push_back(make_frame(die_linkage_name(scope), file, line, die_decl_line(scope)));
      // The next frame out is the caller, at the call site of this inline.
      file = call_file(cu, scope);
      line = call_line(scope);
    } else if (tag == DW_TAG_subprogram) {
      // The symbol table has the full linkage name of the physical function.
      std::string name = elf_name ? elf_name : die_linkage_name(scope);
      out.push_back(make_frame(name, file, line, die_decl_line(scope)));
      reached_subprogram = true;
      break;
    }
  }
  free(scopes);

  if (!reached_subprogram) {
    if (elf_name == nullptr) {
      out.clear();
      return out;
    }
    out.push_back(make_frame(elf_name, file, line, 0));
  }
  return out;
}

std::string Symbolizer::build_id(uintptr_t addr) {
  if (!dwfl_) return std::string();
  Dwfl_Module* module = dwfl_addrmodule(dwfl_, addr);
  if (module == nullptr) return std::string();
  GElf_Addr elf_bias;
  dwfl_module_getelf(module, &elf_bias);  // the build-id is read from the ELF, once loaded
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr;
  int len = dwfl_module_build_id(module, &bits, &vaddr);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < len; i++) {
    hex.push_back(kHex[bits[i] >> 4]);
    hex.push_back(kHex[bits[i] & 15]);
  }
  return hex;
}

}  // namespace ppagent
