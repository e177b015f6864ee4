// Which DWARF unit holds which addresses, for one DWARF file, kept in the
// build-id cache (build_id_cache.h) as <build-id of the DWARF file>.ranges.
//
// Why: finding an address's unit means reading .debug_aranges (or, without
// it, the first DIE of every unit) out of the debug file's inflated DWARF,
// and so opening that DWARF as an image first. With the ranges and the
// unit's frames table (unit_frames_cache.h) both in the cache, a process
// whose samples land in libc reads none of libc's DWARF and opens no image:
// in a short program that was about a third of the exit write's symbol work.
//
// Written whole, once, by the first process that reads the ranges. The
// header names the DWARF file (build-id and size) with a format version;
// the ranges are checked on reading (each non-empty, sorted by start) and a
// damaged entry is read from the DWARF again and rewritten.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ppagent {

// File-relative addresses [low, high) of the unit at offset `unit` in .debug_info.
struct UnitRange {
  uint64_t low, high, unit;
};

// The cached ranges of the DWARF file with `build_id` (raw bytes) and
// `file_size`, sorted by low. False when the cache is off or holds no valid
// entry for it.
bool read_cached_unit_ranges(const std::string& build_id, uint64_t file_size,
                             std::vector<UnitRange>* ranges);

// Writes `ranges` (sorted by low) as that file's entry; failures only lose the entry.
void save_unit_ranges(const std::string& build_id, uint64_t file_size,
                      const std::vector<UnitRange>& ranges);

}  // namespace ppagent
