// What a DIE tells about the code scopes (functions, inlined calls, blocks)
// that hold an address, and how their chain becomes frames. Shared by the
// per-unit frames table (unit_frames.h), which reads these facts once per
// unit, and by the walk DwarfFrames falls back on for a unit the table
// cannot hold (dwarf_frames.h).
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "symbols/source_frame.h"

namespace ppagent {

// Deeper scopes than this are not looked into: a bound on the walk of a
// damaged unit.
constexpr int kMaxScopeNesting = 64;

// Tags whose DIEs hold code and have its addresses (low/high pc or ranges).
bool is_code_scope(int tag);
// Tags without addresses of their own that may still hold a function's DIE
// (clang puts a namespace's definitions inside the namespace's DIE).
bool may_hold_code_scopes(int tag);
// A lexical block without addresses of its own: its contents may have some.
bool is_addressless_block(Dwarf_Die* die, int tag);

std::string die_linkage_name(Dwarf_Die* die);
int64_t die_decl_line(Dwarf_Die* die);
// "/build/obj" + "../src/a.cc" -> "/build/src/a.cc": pprof shows the path as
// given, and relative paths as compiled mean little away from the build tree.
std::string absolute_source_path(Dwarf_Die* cu, const std::string& path);
// Where an inlined subroutine was called from (absolute), "" / 0 when unknown.
std::string call_file(Dwarf_Die* cu, Dwarf_Die* inlined);
int64_t call_line(Dwarf_Die* inlined);

// One code scope holding an address, as far as frames need it.
struct CodeScope {
  int tag = 0;
  std::string_view name;  // linkage name (subprograms and inlined calls)
  int64_t decl_line = 0;
  std::string_view call_file;  // inlined calls
  int64_t call_line = 0;
};

// The frames for the chain of scopes holding an address, innermost first, at
// `file`:`line` (the line table's row): one per inlined call, then the
// function, named `symbol` when given (the symbol table has the full linkage
// name) and by its DIE otherwise. Code without a subprogram DIE (assembly)
// gets one frame named `symbol`. False, `out` empty, when there is no name.
bool frames_from_scopes(const std::vector<CodeScope>& innermost_first, std::string_view file,
                        int64_t line, std::string_view symbol, std::vector<SourceFrame>* out);

}  // namespace ppagent
