// What every interposer needs: to export its definition from the agent
// (base/export.h), and to find the definition it stands in front of, the
// next one in the process's lookup order (glibc's, or another preloaded
// library's), in one way: a NextDefinition resolved at load. The malloc
// family alone resolves its own (interpose_malloc.cc): dlsym may call malloc,
// which must then be served from a bootstrap arena.
#pragma once

#include <dlfcn.h>

#include <atomic>

#include "base/export.h"  // PPAGENT_EXPORT

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

// Where an interposer keeps the next definition of its symbol: a namespace-
// scope NextDefinition per symbol (constant-initialised, so usable before any
// constructor ran), resolved by the interposer's constructor at load time
// (resolve_at_load), so that a call from a signal handler or a vfork child
// only loads a pointer. A call that comes before the constructor (from
// another preloaded library's constructor) looks it up on the spot.
template <typename Fn>
class NextDefinition {
 public:
  constexpr explicit NextDefinition(const char* name, const char* version = nullptr)
      : name_(name), version_(version) {}
  Fn get() {
    Fn fn = fn_.load(std::memory_order_relaxed);
    if (__builtin_expect(fn == nullptr, 0)) {
      fn = version_ != nullptr ? next_definition<Fn>(name_, version_) : next_definition<Fn>(name_);
      fn_.store(fn, std::memory_order_relaxed);
    }
    return fn;
  }

 private:
  const char* name_;
  const char* version_;
  std::atomic<Fn> fn_{nullptr};
};

// For an interposer's constructor: looks up every one of `next` now.
template <typename... Next>
void resolve_at_load(Next&... next) {
  (next.get(), ...);
}

}  // namespace ppagent
