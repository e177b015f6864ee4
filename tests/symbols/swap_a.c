/* Version A of a library the symbolizer test replaces on disk with version B
   (swap_b.c): the same exported entry, a differently named function behind it. */
#include <stdint.h>

__attribute__((noinline)) uintptr_t swap_alpha_function(void) {
  uintptr_t pc;
  __asm__ volatile("lea 0(%%rip), %0" : "=r"(pc));
  return pc;
}

uintptr_t swap_pc(void) { return swap_alpha_function(); }
