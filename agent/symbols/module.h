// One file mapped into the process (a module): its symbol index, its DWARF
// and the frames resolved so far, by file-relative address. Built as lookups
// need it: mapping the file and reading its build-id and program headers when
// the module is first seen in a profile, the symbol index and the DWARF on the
// first address looked up in it. Kept for the life of the process.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/process_maps.h"
#include "symbols/demangle.h"
#include "symbols/dwarf_frames.h"
#include "symbols/elf_file.h"
#include "symbols/source_frame.h"
#include "symbols/symbol_index.h"

namespace ppagent {

struct SymbolizerCounters {
  uint64_t files_opened = 0;       // module files mapped (debug files not counted)
  uint64_t indexes_built = 0;
  uint64_t dwarf_opened = 0;
  uint64_t addresses_resolved = 0; // looked up in an index (not from the cache)
  uint64_t cache_hits = 0;
  uint64_t dwarf_bytes_inflated = 0;  // of compressed DWARF sections
  uint64_t states_abandoned = 0;   // by a forked child, see Symbolizer::child_after_fork
};

struct ModuleContext {
  const std::string& debug_root;
  DemangleCache& demangle;
  SymbolizerCounters& counters;
};

// The agent's own library is named from its symbol table alone, as the
// `malloc` a user knows: its DWARF (8 MB in a debugoptimized build) cost a
// process whose one sample fell in the interposed malloc ~30 MB of peak RSS,
// for files and lines of the agent's sources that tell a user nothing. Set
// once at start; tests that symbolize their own code leave it unset.
void name_without_dwarf(const FileIdentity& identity);

class Module {
 public:
  // The file `mapped_path` (as /proc/self/maps names it), opened through
  // `open_path` (the same, or /proc/self/map_files/... for a deleted file),
  // which must still be `identity`.
  Module(const FileIdentity& identity, std::string mapped_path, std::string open_path);
  // An image already in memory (the vDSO).
  Module(const uint8_t* image, size_t size);
  ~Module();

  // Maps the file, once. False when it cannot be (then or earlier).
  bool open(SymbolizerCounters& counters);
  // runtime address - file-relative address, for a mapping of this module.
  bool load_bias(const MapEntry& mapping, uintptr_t* bias) const;
  // Hex GNU build-id, "" when none.
  std::string build_id() const;

  // Frames at the file-relative `address` (see Symbolizer::frames).
  const std::vector<SourceFrame>& frames(uint64_t address, const ModuleContext& context);

 private:
  void build_index(const ModuleContext& context);

  FileIdentity identity_;
  std::string mapped_path_, open_path_;
  const uint8_t* memory_image_ = nullptr;
  size_t memory_size_ = 0;
  bool open_tried_ = false, indexed_ = false;
  std::unique_ptr<ElfFile> file_, debug_file_;
  SymbolIndex index_;
  std::unique_ptr<DwarfFrames> dwarf_;
  std::unordered_map<uint64_t, std::vector<SourceFrame>> cache_;
};

}  // namespace ppagent
