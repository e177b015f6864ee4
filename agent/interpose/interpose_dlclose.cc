// The interposed dlclose (exported through exports.map; only the shared
// library has it, not ppagent_core). Walks read loaded objects' unwind
// tables in place, so nothing may be unmapped while one does: dlclose waits
// until no walk reads module memory, then refreshes the module tables before
// walks may read any again (ModuleTables::unload, unwind/unload_guard.h).
//
// dlopen is deliberately not interposed: glibc chooses the RUNPATH and the
// namespace a library is looked up in from dlopen's caller, which a wrapper
// would turn into the agent, and programs' plugin lookups would fail. Code
// loaded since the last refresh is unknown to walks (they stop there) until
// the agent's thread or a threads capture refreshes again.
#include <atomic>
#include <dlfcn.h>

#include "base/agent_state.h"
#include "interpose/next_definition.h"
#include "unwind/stack_walker.h"

namespace ppagent {
namespace {

using DlcloseFn = int (*)(void*);
NextDefinition<DlcloseFn> g_dlclose("dlclose");

__attribute__((constructor)) void resolve_real_dlclose() { resolve_at_load(g_dlclose); }

int guarded_dlclose(void* handle) {
  DlcloseFn real = g_dlclose.get();
  if (real == nullptr) return -1;  // cannot happen with a dynamic libc
  ModuleTables* tables = agent_state().module_tables;
  if (tables == nullptr) return real(handle);  // nothing walks: the agent is not recording
  return tables->unload(handle, real);
}

}  // namespace
}  // namespace ppagent

// dlclose@GLIBC_2.2.5 (what binaries linked with libdl before glibc 2.34 call)
// is the same function as dlclose@@GLIBC_2.34 in libc.so.6.
PPAGENT_EXPORT PPAGENT_VERSION("dlclose@@GLIBC_2.34") int
ppagent_dlclose(void* handle) {
  return ppagent::guarded_dlclose(handle);
}

PPAGENT_EXPORT PPAGENT_VERSION("dlclose@GLIBC_2.2.5") int
ppagent_dlclose_2_2_5(void* handle) {
  return ppagent::guarded_dlclose(handle);
}
