/* Version B of the library of swap_a.c: another name, and a larger file. */
#include <stdint.h>

__attribute__((noinline)) uintptr_t swap_beta_function(void) {
  uintptr_t pc;
  __asm__ volatile("lea 0(%%rip), %0" : "=r"(pc));
  return pc;
}

__attribute__((noinline)) int swap_padding_function(int x) { return x * 3 + 1; }

uintptr_t swap_pc(void) { return swap_beta_function(); }
