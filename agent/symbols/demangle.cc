#include "symbols/demangle.h"

#include <cxxabi.h>

#include <cstdlib>

namespace ppagent {

std::string demangle(const std::string& name) {
  if (name.compare(0, 2, "_Z") != 0) return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  free(out);
  return result;
}

std::string DemangleCache::operator()(const std::string& name) {
  if (name.compare(0, 2, "_Z") != 0) return name;  // nothing to demangle, nothing to keep
  auto found = names_.find(name);
  if (found != names_.end()) return found->second;
  return names_.emplace(name, demangle(name)).first->second;
}

}  // namespace ppagent
