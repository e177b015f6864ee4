// The rules the walker evaluates on demand (unwind/cfa_evaluator.h) against
// the whole-table compiler it replaced (reference_frame_table.h), on real
// modules: at every row boundary of the reference table (a row's first and
// last byte) and at random pcs, both must give the same rule.
//
// One known difference, where the reference was wrong: when an FDE's program
// advances to the FDE's very end, the reference kept that last row for the
// bytes after the FDE (padding up to the next function) instead of ending
// the range there. On demand, a pc outside every FDE has no rule. Those pcs
// are counted apart.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <random>
#include <string>
#include <vector>

#include "reference_frame_table.h"
#include "unwind/cfa_evaluator.h"
#include "unwind/eh_frame_hdr.h"
#include "unwind/module_view.h"

namespace ppagent {
namespace {

struct Found {
  std::string name;
  LoadedModule module;
};

// The loaded module whose name ends with `suffix` ("" = the test program).
bool find_module(const std::string& suffix, Found* out) {
  struct Search {
    const std::string* suffix;
    Found* out;
    bool found = false;
  } search{&suffix, out};
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        const std::string name = info->dlpi_name ? info->dlpi_name : "";
        const bool match = s->suffix->empty()
                               ? name.empty()
                               : name.size() >= s->suffix->size() &&
                                     name.compare(name.size() - s->suffix->size(), std::string::npos,
                                                  *s->suffix) == 0;
        if (!match || !describe_loaded_module(*info, &s->out->module)) return 0;
        s->out->name = name.empty() ? "(test program)" : name;
        s->found = true;
        return 1;
      },
      &search);
  return search.found;
}

bool same_rule(const FrameRule& a, const FrameRule& b) {
  if (a.cfa_base != b.cfa_base) return false;
  if (a.cfa_base == FrameRule::kNone) return true;
  return a.pc_offset == b.pc_offset && a.cfa_offset == b.cfa_offset &&
         a.fp_offset == b.fp_offset && a.ra_offset == b.ra_offset;
}

std::string describe(const FrameRule& r) {
  char buf[128];
  snprintf(buf, sizeof buf, "{row %#x base %d cfa %d fp %d ra %d}", r.pc_offset, r.cfa_base,
           r.cfa_offset, r.fp_offset, r.ra_offset);
  return buf;
}

struct Comparison {
  size_t rows = 0, checked = 0, with_rule = 0, different = 0, past_fde_end = 0;
  size_t deref = 0;  // rules whose CFA is read from the stack (kRspDeref)
  std::string first_difference;
};

Comparison compare_module(const Found& found, size_t random_pcs) {
  const ModuleView& view = found.module.view;
  const std::vector<FrameRule> table = reference::compile_frame_rules(view.eh_frame_hdr, view.bias);
  Comparison c;
  c.rows = table.size();
  auto check = [&](uint32_t offset) {
    const FrameRule* expected = reference::find_frame_rule(table.data(), table.size(), offset);
    FrameRule none{};
    none.cfa_base = FrameRule::kNone;
    const FrameRule want = expected ? *expected : none;
    const FrameRule got = frame_rule_at(view, view.bias + offset);
    c.checked++;
    if (want.cfa_base != FrameRule::kNone) c.with_rule++;
    if (want.cfa_base == FrameRule::kRspDeref) c.deref++;
    if (same_rule(want, got)) return;
    uintptr_t begin = 0, end = 0;
    const uintptr_t pc = view.bias + offset;
    const bool covered = fde_pc_range(view, find_fde(view, pc), &begin, &end) && pc >= begin &&
                         pc < end;
    if (got.cfa_base == FrameRule::kNone && !covered && want.pc_offset >= end - view.bias) {
      c.past_fde_end++;
      return;
    }
    if (c.different++ == 0)
      c.first_difference = "pc offset " + std::to_string(offset) + ": reference " +
                           describe(want) + ", on demand " + describe(got);
  };
  for (size_t i = 0; i < table.size(); i++) {
    check(table[i].pc_offset);
    if (table[i].pc_offset > 0) check(table[i].pc_offset - 1);  // the last byte of the row before
  }
  std::mt19937_64 random(12345);
  for (const AddressRange& code : found.module.executable) {
    const uintptr_t size = code.end - code.start;
    for (size_t i = 0; i < random_pcs && size > 0; i++)
      check(static_cast<uint32_t>(code.start + random() % size - view.bias));
  }
  return c;
}

Comparison expect_equivalent(const std::string& suffix, size_t random_pcs) {
  Found found;
  Comparison c;
  const bool loaded = find_module(suffix, &found);
  EXPECT_TRUE(loaded) << "module " << suffix << " not loaded";
  if (!loaded) return c;
  c = compare_module(found, random_pcs);
  printf("%s: %zu rows, %zu pcs checked (%zu with a rule), %zu different, %zu past an FDE's end\n",
         found.name.c_str(), c.rows, c.checked, c.with_rule, c.different, c.past_fde_end);
  EXPECT_GT(c.with_rule, c.checked / 2) << found.name;
  EXPECT_EQ(c.different, 0u) << found.name << ": first at " << c.first_difference;
  return c;
}

TEST(RuleEquivalence, TestProgram) { expect_equivalent("", 20000); }

TEST(RuleEquivalence, Libc) { expect_equivalent("/libc.so.6", 20000); }

TEST(RuleEquivalence, Libstdcxx) { expect_equivalent("/libstdc++.so.6", 20000); }

// OpenSSL's assembly keeps the caller's rsp in a stack slot and says so with
// DW_CFA_def_cfa_expression (breg7 OFF; deref; plus_uconst 8): SHA-512,
// AES and the like, where openssl spends its time.
TEST(RuleEquivalence, Libcrypto) {
  const char* path = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
  void* handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << path << " (Debian's libssl3, installed by scripts/install-deps.sh)";
  Comparison c = expect_equivalent("/libcrypto.so.3", 100000);
  EXPECT_GT(c.deref, 100u) << "rules read from the stack in libcrypto";
  dlclose(handle);
}

TEST(RuleEquivalence, LibLLVM) {
  const char* path = "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1";
  void* handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) GTEST_SKIP() << path << " is not installed";
  expect_equivalent("/libLLVM-14.so.1", 100000);
  dlclose(handle);
}

}  // namespace
}  // namespace ppagent
