// The symbolizer on this test binary (built with -g -O2): plain and C++
// names, file and line, an inlined helper reported as its own frame; the
// symbol index on hand-made symbols (symbols/gap_functions.S); what is kept
// across profile builds; forked children.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <cstdint>
#include <cstring>
#include <thread>

#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "symbols/symbolizer.h"

extern "C" {
void gap_first();
void gap_second();
void alias_global();
void weak_or_local_w();
}

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

uintptr_t address_of(void (*f)()) { return reinterpret_cast<uintptr_t>(f); }

std::string innermost_name(Symbolizer* sym, uintptr_t address) {
  std::vector<SourceFrame> frames = sym->frames(address);
  return frames.empty() ? std::string() : frames.front().system_name;
}

TEST(Symbolizer, AnAddressBetweenTwoFunctionsHasNoName) {
  Symbolizer sym;
  const uintptr_t first = address_of(gap_first), second = address_of(gap_second);
  ASSERT_EQ(second - first, 48u) << "gap_functions.S lays out 16 + 32 bytes";
  EXPECT_EQ(innermost_name(&sym, first + 4), "gap_first");
  EXPECT_EQ(innermost_name(&sym, first + 15), "gap_first");
  // Past gap_first's size: not gap_first's, though it is the symbol before.
  EXPECT_TRUE(sym.frames(first + 16).empty());
  EXPECT_TRUE(sym.frames(first + 40).empty());
  EXPECT_EQ(innermost_name(&sym, second + 4), "gap_second");
}

TEST(Symbolizer, AliasesResolveToTheGlobalNameThenTheWeakOne) {
  Symbolizer sym;
  // alias_local, alias_weak and alias_global name one function.
  EXPECT_EQ(innermost_name(&sym, address_of(alias_global) + 2), "alias_global");
  // weak_or_local_l and weak_or_local_w.
  EXPECT_EQ(innermost_name(&sym, address_of(weak_or_local_w) + 2), "weak_or_local_w");
}

std::string build_profile(Symbolizer* sym, const std::vector<uintptr_t>& addresses) {
  ProfileBuilder builder;
  LocationResolver locations(&builder, sym, read_executable_mappings());
  std::vector<uint64_t> ids;
  for (uintptr_t a : addresses) ids.push_back(locations.location_id(a, false));
  builder.add_sample_type("samples", "count");
  builder.add_sample(ids, {1}, {});
  locations.finish();
  return builder.encode();
}

TEST(Symbolizer, ASecondProfileReusesWhatTheFirstBuilt) {
  Symbolizer sym;
  const std::vector<uintptr_t> addresses = {plain_c_function_pc(), demo::Widget::method_pc(),
                                            reinterpret_cast<uintptr_t>(&strlen) + 1};
  build_profile(&sym, addresses);
  SymbolizerCounters first = sym.counters();
  EXPECT_GE(first.files_opened, 2u);  // this executable and libc
  EXPECT_EQ(first.addresses_resolved, addresses.size());
  build_profile(&sym, addresses);
  SymbolizerCounters second = sym.counters();
  EXPECT_EQ(second.files_opened, first.files_opened);
  EXPECT_EQ(second.indexes_built, first.indexes_built);
  EXPECT_EQ(second.dwarf_opened, first.dwarf_opened);
  EXPECT_EQ(second.addresses_resolved, first.addresses_resolved);
  EXPECT_EQ(second.cache_hits - first.cache_hits, addresses.size());
}

TEST(Symbolizer, SharedInstanceIsOneForTheProcess) {
  EXPECT_EQ(Symbolizer::shared(), Symbolizer::shared());
  EXPECT_EQ(innermost_name(Symbolizer::shared(), plain_c_function_pc()), "plain_c_function_pc");
}

// Runs `child` in a forked child; true when it returned true.
bool in_forked_child(const std::function<bool()>& child) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);  // a deadlock fails the test instead of hanging it
    _exit(child() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(Symbolizer, ForkedChildSymbolizesWithWhatTheParentBuilt) {
  Symbolizer sym;
  ASSERT_EQ(innermost_name(&sym, plain_c_function_pc()), "plain_c_function_pc");
  const uint64_t opened = sym.counters().files_opened;
  EXPECT_TRUE(in_forked_child([&] {
    sym.child_after_fork();
    return innermost_name(&sym, plain_c_function_pc()) == "plain_c_function_pc" &&
           innermost_name(&sym, demo::Widget::method_pc()) == "_ZN4demo6Widget9method_pcEv" &&
           sym.counters().files_opened == opened && sym.counters().states_abandoned == 0;
  }));
}

TEST(Symbolizer, ForkWhileAnotherThreadIsInsideStartsTheChildEmpty) {
  Symbolizer sym;
  ASSERT_EQ(innermost_name(&sym, plain_c_function_pc()), "plain_c_function_pc");
  std::atomic<bool> holding{false}, forked{false};
  std::thread inside([&] {
    sym.with_lock_held_for_test([&] {
      holding = true;
      while (!forked) usleep(1000);
    });
  });
  while (!holding) usleep(1000);
  const bool child_ok = in_forked_child([&] {
    sym.child_after_fork();  // the lock held by a thread that is not in the child
    return innermost_name(&sym, plain_c_function_pc()) == "plain_c_function_pc" &&
           sym.counters().states_abandoned == 1 && sym.counters().files_opened >= 1;
  });
  forked = true;
  inside.join();
  EXPECT_TRUE(child_ok);
  EXPECT_EQ(sym.counters().states_abandoned, 0u);  // the parent's own state is untouched
}

TEST(Demangle, LeavesPlainNamesAlone) {
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("_ZNSt6vectorIiSaIiEE9push_backEOi"),
            "std::vector<int, std::allocator<int> >::push_back(int&&)");
  EXPECT_EQ(demangle("_Zbroken"), "_Zbroken");
}

}  // namespace
}  // namespace ppagent
