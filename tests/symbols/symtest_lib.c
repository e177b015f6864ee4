/* A small library for the symbolizer's tests, built several ways by
   tests/meson.build: with its DWARF, stripped to its .dynsym, with a separate
   debug file found by build-id or by debuglink. A static function, named only
   by a .symtab, and an exported one each return the address of an
   instruction inside themselves, and the line it is on. */
#include <stdint.h>

#define CURRENT_PC(out) __asm__ volatile("lea 0(%%rip), %0" : "=r"(out))

struct symtest_pc {
  uintptr_t pc;
  int line;
};

static __attribute__((noinline)) struct symtest_pc symtest_static_function(void) {
  struct symtest_pc r;
  CURRENT_PC(r.pc); r.line = __LINE__;
  return r;
}

__attribute__((noinline)) struct symtest_pc symtest_exported_function(void) {
  struct symtest_pc r;
  CURRENT_PC(r.pc); r.line = __LINE__;
  return r;
}

struct symtest_pc symtest_static_pc(void) { return symtest_static_function(); }
