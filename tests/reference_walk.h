// libunwind's walk of a context, the reference the agent's walker is checked
// against (test_stack_walker.cc, test_module_unload.cc).
#pragma once

#include <cstdint>
#include <ucontext.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

namespace ppagent {

inline int reference_walk(ucontext_t* context, uintptr_t* pcs, int max) {
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, reinterpret_cast<unw_context_t*>(context), UNW_INIT_SIGNAL_FRAME) != 0)
    return 0;
  int n = 0;
  do {
    unw_word_t ip;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    pcs[n++] = ip;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
}

}  // namespace ppagent
