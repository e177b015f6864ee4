// Compressed DWARF sections, inflated once per machine instead of once per
// process.
//
// Why: Debian compresses its separate debug files (libc6-dbg's libc: 4 MB
// holding 10 MB of DWARF), and a zlib stream cannot be entered in the middle.
// A process whose few samples land in libc had to inflate .debug_info from
// its start up to the unit it needed: ~25 ms of CPU, in every process of a
// build or a test run that thousands of processes make. Here the first process
// that needs a debug file's DWARF inflates its sections whole into one cache
// entry; every later process maps that entry, reading only the pages its
// lookups touch, from the page cache all processes share.
//
// An entry (build_id_cache.h) is named by the debug file's GNU build-id and
// describes which sections of which sizes it holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ppagent {

struct SectionToInflate {
  int id;                  // the caller's name for the section, stable across processes
  const uint8_t* stream;   // the raw zlib stream (with its 2-byte header)
  uint64_t stream_size;
  uint64_t size;           // inflated
  uint8_t* target;         // page-aligned, with room for `size` bytes
};

// Places the whole inflated contents of every section at its target, mapped
// read-only from the cache entry of the debug file with `build_id` (raw
// bytes) and `file_size`; the entry is written first when there is none.
// False when there is no cache, the sections are too large to cache, or
// anything fails: every target is then readable and writable memory again,
// its contents undefined, and the caller inflates by itself.
bool map_inflated_sections(const std::string& build_id, uint64_t file_size,
                           const std::vector<SectionToInflate>& sections);

}  // namespace ppagent
