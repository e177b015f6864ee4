// Which mappings a profile lists and the flags that tell go tool pprof not to
// symbolize them again (see LocationResolver::finish), read back with the
// classes generated from proto/profile.proto.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "profile.pb.h"

extern "C" {
void gap_first();
}

namespace ppagent {
namespace {

extern "C" __attribute__((noinline)) uintptr_t locations_test_pc() {
  uintptr_t pc;
  asm volatile("lea 0(%%rip), %0" : "=r"(pc));
  return pc;
}

struct SymtestPc {
  uintptr_t pc;
  int line;
};

pb::Profile build(Symbolizer* sym, const std::vector<uintptr_t>& addresses) {
  ProfileBuilder builder;
  LocationResolver locations(&builder, sym, read_executable_mappings());
  builder.add_sample_type("samples", "count");
  std::vector<uint64_t> ids;
  for (uintptr_t a : addresses) ids.push_back(locations.location_id(a, false));
  builder.add_sample(ids, {1}, {});
  locations.finish();
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(builder.encode()));
  return p;
}

std::string file_of(const pb::Profile& p, const pb::Mapping& m) {
  return p.string_table(static_cast<int>(m.filename()));
}

const pb::Mapping* mapping_named(const pb::Profile& p, const std::string& part) {
  for (const pb::Mapping& m : p.mapping())
    if (file_of(p, m).find(part) != std::string::npos) return &m;
  return nullptr;
}

std::string flags(const pb::Mapping& m) {
  std::string out;
  for (auto [set, name] : {std::pair{m.has_functions(), "FN"}, {m.has_filenames(), "FL"},
                           {m.has_line_numbers(), "LN"}, {m.has_inline_frames(), "IN"}})
    if (set) out += out.empty() ? name : std::string(" ") + name;
  return out;
}

uintptr_t libc_address() { return reinterpret_cast<uintptr_t>(&strlen) + 1; }

TEST(Locations, AddressesLookedUpInOrderFirstGiveTheSameLocations) {
  // Looked up in address order beforehand (for the symbolizer's DWARF,
  // dwarf_image.h), the locations come from its cache and are the same.
  const std::vector<uintptr_t> addresses = {libc_address(), locations_test_pc(),
                                            reinterpret_cast<uintptr_t>(&gap_first) + 1,
                                            reinterpret_cast<uintptr_t>(&memcpy) + 2};
  Symbolizer plain_sym;
  const pb::Profile plain = build(&plain_sym, addresses);

  Symbolizer sym;
  ProfileBuilder builder;
  LocationResolver locations(&builder, &sym, read_executable_mappings());
  builder.add_sample_type("samples", "count");
  std::vector<uintptr_t> reversed(addresses.rbegin(), addresses.rend());
  locations.look_up_in_address_order(reversed);
  const uint64_t resolved = sym.counters().addresses_resolved;
  EXPECT_EQ(resolved, addresses.size());
  std::vector<uint64_t> ids;
  for (uintptr_t a : addresses) ids.push_back(locations.location_id(a, false));
  EXPECT_EQ(sym.counters().addresses_resolved, resolved) << "from the cache";
  builder.add_sample(ids, {1}, {});
  locations.finish();
  pb::Profile ordered;
  ASSERT_TRUE(ordered.ParseFromString(builder.encode()));
  ASSERT_EQ(ordered.location_size(), plain.location_size());
  for (int i = 0; i < plain.location_size(); i++) {
    ASSERT_EQ(ordered.location(i).line_size(), plain.location(i).line_size());
    for (int j = 0; j < plain.location(i).line_size(); j++) {
      const auto name = [](const pb::Profile& p, const pb::Line& l) {
        for (const pb::Function& f : p.function())
          if (f.id() == l.function_id()) return p.string_table(static_cast<int>(f.name()));
        return std::string();
      };
      EXPECT_EQ(name(ordered, ordered.location(i).line(j)), name(plain, plain.location(i).line(j)));
      EXPECT_EQ(ordered.location(i).line(j).line(), plain.location(i).line(j).line());
    }
  }
}

TEST(Locations, OnlyMappingsWithLocationsAreWrittenMainExecutableFirst) {
  Symbolizer sym;
  pb::Profile p = build(&sym, {locations_test_pc(), libc_address()});
  ASSERT_EQ(p.mapping_size(), 2);  // not libstdc++, libgtest, libm, ld.so, the vDSO
  EXPECT_NE(file_of(p, p.mapping(0)).find("test_locations"), std::string::npos);
  EXPECT_NE(file_of(p, p.mapping(1)).find("libc.so.6"), std::string::npos);
  EXPECT_GE(p.string_table(static_cast<int>(p.mapping(1).build_id())).size(), 40u);

  // Without a location in it, the main executable still comes first.
  p = build(&sym, {libc_address()});
  ASSERT_EQ(p.mapping_size(), 2);
  EXPECT_NE(file_of(p, p.mapping(0)).find("test_locations"), std::string::npos);
  EXPECT_EQ(flags(p.mapping(0)), "");
  for (const pb::Location& l : p.location()) EXPECT_EQ(l.mapping_id(), p.mapping(1).id());
}

TEST(Locations, MappingsNamedWithDwarfHaveEveryFlag) {
  Symbolizer sym;
  pb::Profile p = build(&sym, {locations_test_pc(), libc_address()});
  EXPECT_EQ(flags(p.mapping(0)), "FN FL LN IN");
  EXPECT_EQ(flags(p.mapping(1)), "FN FL LN IN") << "libc with libc6-dbg's DWARF";
}

TEST(Locations, AnUnnamedAddressClearsOnlyHasFunctions) {
  Symbolizer sym;
  // 20 bytes into gap_first's 16: in no symbol.
  pb::Profile p = build(&sym, {locations_test_pc(), reinterpret_cast<uintptr_t>(&gap_first) + 20});
  EXPECT_EQ(flags(p.mapping(0)), "FL LN IN");
}

TEST(Locations, SymbolTableOnlyMappingHasFunctionsWhenAllAreNamed) {
  void* lib = dlopen(PPAGENT_TEST_FILES "/libsymtest_dynsym.so", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto exported = reinterpret_cast<SymtestPc (*)()>(dlsym(lib, "symtest_exported_function"));
  auto hidden = reinterpret_cast<SymtestPc (*)()>(dlsym(lib, "symtest_static_pc"));
  Symbolizer sym;
  pb::Profile p = build(&sym, {exported().pc});
  const pb::Mapping* m = mapping_named(p, "libsymtest_dynsym.so");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(flags(*m), "FN");
  p = build(&sym, {exported().pc, hidden().pc});
  m = mapping_named(p, "libsymtest_dynsym.so");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(flags(*m), "");
  dlclose(lib);
}

}  // namespace
}  // namespace ppagent
