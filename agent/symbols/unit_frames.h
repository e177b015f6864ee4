// The frames of every address of one DWARF unit, as a table read in one walk
// of the unit's DIE tree and its line table, so that a lookup is two binary
// searches and a walk up parent links, with no libdw call.
//
// Why: DwarfFrames walked the unit's DIEs from its root for every distinct
// address (finding the function among all top-level DIEs, reading each one's
// ranges) and had libdw search the line table: 24-29 us per new address in a
// libc6-dbg unit already read, ~1 us from the table; and every process paid
// the walks again, where a table is read once per machine (the cache). The
// table answers the same (same frames, names, files, lines and start lines)
// from the facts the walk read:
// - every code scope the walk could reach (dwarf_scopes.h's tags, through
//   the containers and address-less blocks it looks into), with its parent,
//   tag, linkage name, declaration line and, for inlined calls, call site;
// - the walk picks, among the scopes it may enter next, the first in DIE
//   order that holds the address; which one that is can only change where
//   some scope's range begins or ends, so the table keeps, for each run of
//   addresses between two such boundaries, the innermost scope the walk
//   ends on (its parents are the rest of the chain);
// - the line table's rows in libdw's order, searched as dwarf_getsrc_die
//   searches them (the last row at or below the address, none past the end
//   of a sequence).
//
// The table is plain data (counts, then arrays, then a string pool; indexes
// and offsets, no pointers), so that unit_frames_cache.h can write it and a
// later process map it. A table from outside is validated whole before use:
// every index and offset in bounds, parents before their children (so a walk
// up always ends), ordered runs.
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "symbols/source_frame.h"

namespace ppagent {

class UnitFrames {
 public:
  // Reads the unit `cu` (its line table too when `with_lines`: the caller
  // has made it readable). nullptr when the unit holds what the table cannot
  // represent (see unit_frames.cc): the caller then walks the unit itself.
  static std::unique_ptr<UnitFrames> build(Dwarf_Die* cu, bool with_lines);
  // A table from `size` bytes at `data` (as bytes() gave them), which must
  // stay valid while the table lives and be 8-aligned; `release` runs when
  // the table is destroyed. nullptr, with `release` run at once, when the
  // bytes are not a whole valid table.
  static std::unique_ptr<UnitFrames> from_bytes(const uint8_t* data, uint64_t size,
                                                std::function<void()> release);
  ~UnitFrames();
  UnitFrames(const UnitFrames&) = delete;
  UnitFrames& operator=(const UnitFrames&) = delete;

  // As DwarfFrames::frames, for an address of this unit.
  bool frames(uint64_t address, std::string_view symbol, std::vector<SourceFrame>* out) const;

  // The table as plain data.
  const uint8_t* bytes() const { return data_; }
  uint64_t size() const { return size_; }

  // The layout, in this order after the counts (all 8-byte aligned).
  static constexpr uint32_t kNone = 0xffffffff;
  struct Counts {
    uint32_t scopes, runs, rows, string_bytes;
  };
  struct Scope {
    uint32_t parent;     // index of the enclosing scope (lower), or kNone
    int32_t tag;
    uint32_t name;       // offsets of NUL-terminated strings in the pool
    uint32_t call_file;
    int64_t decl_line, call_line;
  };
  struct Run {
    uint64_t start;      // up to the next run's start
    uint32_t innermost;  // scope the walk ends on, or kNone
    uint32_t unused;
  };
  struct Row {
    uint64_t address;
    uint32_t file;       // kNone: the end of a sequence
    int32_t line;
  };

 private:
  UnitFrames() = default;
  bool attach(const uint8_t* data, uint64_t size);
  std::string_view string(uint32_t offset) const { return strings_ + offset; }
  bool line_at(uint64_t address, std::string_view* file, int64_t* line) const;

  std::vector<uint64_t> built_;  // storage of a table built here (8-aligned)
  std::function<void()> release_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  Counts counts_{};
  const Scope* scopes_ = nullptr;
  const Run* runs_ = nullptr;
  const Row* rows_ = nullptr;
  const char* strings_ = nullptr;
};

}  // namespace ppagent
