// Names for addresses in this process, resolved inside it so that profiles
// carry their own function names, files, lines and inlined frames.
//
// One Symbolizer serves the whole process (shared()) and lives as long as it:
// what a lookup builds -- a mapped file per module, its symbol index, its
// DWARF, the frames of each address -- is kept for the next profile, so the
// cost follows the addresses sampled, not the size of the program. Modules are
// keyed by file (device, inode, size, mtime) and addresses looked up relative
// to the file, so a library mapped again elsewhere reuses what was built, and
// a file replaced on disk is read again.
//
// Only files are read: the module's own, and its separate debug file
// (debug_file.h). No library is loaded and no debuginfod server asked,
// whatever the environment says: elfutils' libdwfl, which can do both, is
// not used.
//
// Thread-safe (one lock: lookups are fast once built). A child forked
// without exec calls child_after_fork().
#pragma once

#include <pthread.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/process_maps.h"
#include "symbols/debug_file.h"
#include "symbols/demangle.h"
#include "symbols/module.h"
#include "symbols/source_frame.h"

namespace ppagent {

// A mapping of this process resolved to its module: valid while the mapping
// stays, so for one profile build (which reads /proc/self/maps when it starts).
struct ModuleRef {
  int module = -1;
  uintptr_t bias = 0;  // runtime address - file-relative address
  bool valid() const { return module >= 0; }
};

class Symbolizer {
 public:
  // The process's symbolizer. Never destroyed: exit paths use it.
  static Symbolizer* shared();

  // `debug_root` replaces /usr/lib/debug (tests).
  explicit Symbolizer(std::string debug_root = kSystemDebugRoot);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The module `mapping` (an entry of read_executable_mappings()) shows.
  // Invalid when its file cannot be read (a deleted file that
  // /proc/self/map_files does not open, anonymous or special memory).
  ModuleRef module(const MapEntry& mapping);

  // The frames at `address` in `module`: innermost inlined callee first, the
  // function the code physically belongs to last. Empty when nothing is known.
  std::vector<SourceFrame> frames(ModuleRef module, uintptr_t address);
  // Hex GNU build-id of the module's file, or "".
  std::string build_id(ModuleRef module);

  // The same for addresses of this process outside a profile build (the
  // /symbol endpoint, tests), reading /proc/self/maps once per call.
  std::vector<std::vector<SourceFrame>> frames(const std::vector<uintptr_t>& addresses);
  std::vector<SourceFrame> frames(uintptr_t address);
  std::string build_id(uintptr_t address);

  // In a child forked without exec: the lock taken by no thread. If another
  // thread of the parent was inside the symbolizer at the fork, what it was
  // changing may be half-changed: it is left behind (leaked) and the child
  // starts empty.
  void child_after_fork();

  SymbolizerCounters counters();
  // Tests: runs `fn` with the lock held (as a thread inside a lookup would).
  void with_lock_held_for_test(const std::function<void()>& fn);

 private:
  struct State;
  class Locked;

  pthread_mutex_t lock_ = PTHREAD_MUTEX_INITIALIZER;
  State* state_;
  const std::string debug_root_;
};

}  // namespace ppagent
