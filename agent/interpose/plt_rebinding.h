// Rewrites the PLT slots through which the loaded objects call a function,
// so that a hook with nothing to do is not in the call path at all.
#pragma once

namespace ppagent {

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

}  // namespace ppagent
