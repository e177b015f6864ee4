// The frames tables of DWARF units (unit_frames.h), kept per machine in the
// build-id cache (build_id_cache.h), one entry per unit:
// <build-id of the DWARF file>.u<unit offset in hex>.frames.
//
// Why: a process whose few samples end in libc's start-up functions read the
// same unit of libc6-dbg's DWARF as every process before it. A table is
// plain data that depends only on the DWARF file and the unit, so the first
// process that looks up an address in a unit writes its table, and later
// ones map it and never read that unit's DWARF. One entry per unit, not one
// per file: each is written whole, once, by whichever process first needs
// it, with no process ever rewriting an entry another may be reading, and
// only units that samples land in are written.
//
// An entry's header names the DWARF file (build-id and size) and the unit
// offset, with a format version; the table after it is validated whole
// before use, and a damaged or truncated entry is written anew.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "symbols/unit_frames.h"

namespace ppagent {

// The cached table of the unit at `unit_offset` in .debug_info of the file
// with `build_id` (raw bytes) and `file_size`, mapped read-only. nullptr
// when the cache is off or holds no valid entry for it.
std::unique_ptr<UnitFrames> map_cached_unit_frames(const std::string& build_id, uint64_t file_size,
                                                   uint64_t unit_offset);

// Writes `table` as that unit's entry; failures only lose the entry.
void save_unit_frames(const std::string& build_id, uint64_t file_size, uint64_t unit_offset,
                      const UnitFrames& table);

}  // namespace ppagent
