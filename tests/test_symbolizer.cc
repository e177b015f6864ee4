// The symbolizer on this test binary (built with -g -O2): plain and C++
// names, file and line, and an inlined helper reported as its own frame.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "symbols/symbolizer.h"

namespace {

uintptr_t g_inline_pc;
int g_inline_line;

// The pc of the instruction after this asm, i.e. inside whatever function
// the asm was inlined into.
#define CURRENT_PC(out) asm volatile("lea 0(%%rip), %0" : "=r"(out))

static inline __attribute__((always_inline)) void inlined_helper() {
  uintptr_t pc;
  CURRENT_PC(pc); g_inline_line = __LINE__;
  g_inline_pc = pc;
}

}  // namespace

namespace demo {
struct Widget {
  __attribute__((noinline)) static uintptr_t method_pc() {
    uintptr_t pc;
    CURRENT_PC(pc);
    return pc;
  }
};
}  // namespace demo

extern "C" __attribute__((noinline)) void outer_with_inline() {
  inlined_helper();
  asm volatile("" ::: "memory");
}

extern "C" __attribute__((noinline)) uintptr_t plain_c_function_pc() {
  uintptr_t pc;
  CURRENT_PC(pc);
  return pc;
}

namespace ppagent {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(Symbolizer, NamesAPlainFunctionWithFileAndLine) {
  Symbolizer sym;
  auto frames = sym.frames(plain_c_function_pc());
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().name, "plain_c_function_pc");
  EXPECT_EQ(frames.back().system_name, "plain_c_function_pc");
  EXPECT_TRUE(ends_with(frames.back().file, "/tests/test_symbolizer.cc")) << frames.back().file;
  // Relative paths as compiled are joined with the compilation directory.
  EXPECT_EQ(frames.back().file[0], '/') << frames.back().file;
  EXPECT_EQ(frames.back().file.find("/../"), std::string::npos) << frames.back().file;
  EXPECT_GT(frames.back().line, 0);
}

TEST(Symbolizer, CxxNamesAreDemangledWithMangledSystemName) {
  Symbolizer sym;
  auto frames = sym.frames(demo::Widget::method_pc());
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().system_name, "_ZN4demo6Widget9method_pcEv");
  EXPECT_EQ(frames.back().name, "demo::Widget::method_pc()");
}

TEST(Symbolizer, InlinedHelperIsItsOwnFrame) {
  outer_with_inline();
  Symbolizer sym;
  auto frames = sym.frames(g_inline_pc);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0].name.find("inlined_helper"), std::string::npos) << frames[0].name;
  EXPECT_TRUE(ends_with(frames[0].file, "test_symbolizer.cc"));
  EXPECT_EQ(frames[0].line, g_inline_line);
  EXPECT_EQ(frames[1].name, "outer_with_inline");
  EXPECT_TRUE(ends_with(frames[1].file, "test_symbolizer.cc"));
  EXPECT_GT(frames[1].line, 0);  // the line of the inlined call
}

TEST(Symbolizer, LibraryFunctionsWithoutDwarfStillHaveNames) {
  // libc on Debian has no DWARF unless libc6-dbg is installed; the ELF symbol
  // table still names its exported functions.
  Symbolizer sym;
  auto frames = sym.frames(reinterpret_cast<uintptr_t>(&strlen) + 1);
  ASSERT_FALSE(frames.empty());
  EXPECT_NE(frames.back().name.find("str"), std::string::npos) << frames.back().name;
}

TEST(Symbolizer, UnknownAddressHasNoFrames) {
  Symbolizer sym;
  EXPECT_TRUE(sym.frames(16).empty());
}

TEST(Symbolizer, BuildIdOfThisExecutable) {
  Symbolizer sym;
  std::string id = sym.build_id(plain_c_function_pc());
  EXPECT_GE(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Demangle, LeavesPlainNamesAlone) {
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("_ZNSt6vectorIiSaIiEE9push_backEOi"),
            "std::vector<int, std::allocator<int> >::push_back(int&&)");
  EXPECT_EQ(demangle("_Zbroken"), "_Zbroken");
}

}  // namespace
}  // namespace ppagent
