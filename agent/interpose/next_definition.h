// What every interposer needs: to export its definition from the agent, and
// to find the definition it stands in front of, the next one in the process's
// lookup order (glibc's, or another preloaded library's).
#pragma once

#include <dlfcn.h>

// Exported from libppagent.so (exports.map lists the names); everything else
// in the agent is hidden.
#define PPAGENT_EXPORT extern "C" __attribute__((visibility("default")))
// Exported as one version of a versioned symbol, "name@@VERSION" for the one
// new links bind to, "name@VERSION" for an older one.
#define PPAGENT_EXPORT_VERSION(versioned_name) \
  extern "C" __attribute__((visibility("default"), symver(versioned_name)))

namespace ppagent {

// dlsym may allocate and takes the loader's lock: callers look up once and
// keep the result, at load time where a later call might come from a vfork
// child or a signal handler.
template <typename Fn>
Fn next_definition(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// The definition of one version of a versioned symbol.
template <typename Fn>
Fn next_definition(const char* name, const char* version) {
  return reinterpret_cast<Fn>(dlvsym(RTLD_NEXT, name, version));
}

}  // namespace ppagent
