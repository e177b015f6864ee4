// The executable mappings of this process, as /proc/self/maps lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ppagent {

struct MapEntry {
  uintptr_t start = 0, limit = 0, offset = 0;
  std::string path;  // file path, or a pseudo name like "[vdso]"
  bool deleted = false;          // the file was deleted (or replaced) since it was mapped
  bool main_executable = false;  // a mapping of /proc/self/exe
};

// Executable mappings, the main executable's first (pprof takes mapping 1 as
// the program). Paths of deleted files lose their " (deleted)" suffix and
// have `deleted` set instead.
std::vector<MapEntry> read_executable_mappings();

// While one lives, read_executable_mappings() on the thread that made it
// returns what it read when made: the profiles of one write (the exit's, a
// dump, a flush) are built against one reading of /proc/self/maps, the same
// for all of them, rather than one reading each (the kernel's formatting of
// the maps was 7% of the agent's cost in a /bin/true).
class OneMappingsRead {
 public:
  OneMappingsRead();
  ~OneMappingsRead();
  OneMappingsRead(const OneMappingsRead&) = delete;
  OneMappingsRead& operator=(const OneMappingsRead&) = delete;

 private:
  std::vector<MapEntry> entries_;
  const OneMappingsRead* outer_;
  friend std::vector<MapEntry> read_executable_mappings();
};

// Parses the text of a maps file (split out for tests).
std::vector<MapEntry> parse_executable_mappings(const std::string& maps_text,
                                                const std::string& main_executable);

}  // namespace ppagent
