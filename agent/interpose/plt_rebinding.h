// Rewrites the PLT slots through which the loaded objects call a function,
// so that a hook with nothing to do is not in the call path at all.
#pragma once

#include <cstddef>

namespace ppagent {

struct PltRebinding {
  const char* symbol;
  const void* current;
  const void* target;
};

// For every object loaded now that calls `symbol` through its PLT (an
// R_X86_64_JUMP_SLOT relocation against an undefined `symbol`): if the slot
// leads to `current` (already bound), or still to the object's own lazy
// binding stub while `current` is what the first call would bind to, it is
// pointed at `target`. Slots bound to anything else
// (another interposer, an audit trampoline) are left alone, and so are
// address-taking relocations, so function pointers compare as before.
// Returns the number of slots rewritten. Objects loaded later still bind to
// `current`.
int rebind_plt_calls(const char* symbol, const void* current, const void* target);

// The same for several symbols in one pass over the loaded objects, which is
// what a caller with more than one should use: an object's read-only part
// (PT_GNU_RELRO) is made writable at most once for all of its slots. Each
// mprotect costs a TLB flush, and with ten symbols rebound one by one a large
// program paid dozens of them at start.
int rebind_plt_calls(const PltRebinding* rebindings, size_t count);

}  // namespace ppagent
