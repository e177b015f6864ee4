// One frame of a resolved address: a function (maybe inlined) and where in
// its source the address is.
#pragma once

#include <cstdint>
#include <string>

namespace ppagent {

struct SourceFrame {
  std::string system_name;  // as linked (mangled for C++)
  std::string name;         // demangled, or system_name when not mangled
  std::string file;         // empty without DWARF
  int64_t line = 0;
  int64_t start_line = 0;
};

}  // namespace ppagent
