// Names for addresses in this process, resolved at write time with elfutils
// libdw: DWARF (with inlined frames, file and line) where present, separate
// debug files under /usr/lib/debug (build-id and debuglink), and the ELF
// symbol tables otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct Dwfl;

namespace ppagent {

struct SourceFrame {
  std::string system_name;  // as linked (mangled for C++)
  std::string name;         // demangled, or system_name when not mangled
  std::string file;         // empty without DWARF
  int64_t line = 0;
  int64_t start_line = 0;
};

class Symbolizer {
 public:
  Symbolizer();  // reports the modules mapped in this process now
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  bool ok() const { return dwfl_ != nullptr; }

  // The frames at `addr`: innermost inlined callee first, the function the
  // code physically belongs to last. Empty when nothing is known.
  std::vector<SourceFrame> frames(uintptr_t addr);

  // Hex GNU build-id of the module containing `addr`, or "".
  std::string build_id(uintptr_t addr);

 private:
  Dwfl* dwfl_ = nullptr;
};

// "_ZN3foo3barEv" -> "foo::bar()"; anything else is returned unchanged.
std::string demangle(const std::string& name);

}  // namespace ppagent
