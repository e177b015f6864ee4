// Finds the separate debug file of a module on this machine, as gdb does:
// by GNU build-id under <root>/.build-id/xx/yyyy.debug, then by the
// .gnu_debuglink name next to the module, in .debug/ below it, and under
// <root>/<module's directory>/. A debuglink candidate counts only when its
// CRC-32 is the one the link names, or when both files carry the same
// build-id. Only files are opened: never a debuginfod client or a library.
#pragma once

#include <memory>
#include <string>

#include "symbols/elf_file.h"

namespace ppagent {

// The default debug root. Tests pass their own to the Symbolizer.
extern const char kSystemDebugRoot[];

// `module` was mapped from `module_path` (its name in /proc/self/maps).
// nullptr when no debug file is found.
std::unique_ptr<ElfFile> find_debug_file(const ElfFile& module, const std::string& module_path,
                                         const std::string& debug_root);

}  // namespace ppagent
