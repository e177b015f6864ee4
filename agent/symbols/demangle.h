// C++ names for mangled symbols.
#pragma once

#include <string>
#include <unordered_map>

namespace ppagent {

// "_ZN3foo3barEv" -> "foo::bar()"; anything else is returned unchanged.
std::string demangle(const std::string& name);

// demangle() once per distinct name: the same functions come back in every
// profile, and demangling a long template name costs microseconds.
class DemangleCache {
 public:
  std::string operator()(const std::string& name);

 private:
  std::unordered_map<std::string, std::string> names_;
};

}  // namespace ppagent
