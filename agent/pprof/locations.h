// Turns sampled program counters into pprof Locations: one Location per
// address (with its inlined frames), attached to the mapping it falls in,
// named by the Symbolizer. Shared by every profile kind.
//
// Only mappings that hold a location are written, plus the main executable,
// always first (pprof takes mapping 1 as the program).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "base/process_maps.h"
#include "pprof/profile_builder.h"
#include "symbols/symbolizer.h"

namespace ppagent {

class LocationResolver {
 public:
  // `mappings`: read_executable_mappings() at the start of the build.
  LocationResolver(ProfileBuilder* builder, Symbolizer* symbolizer, std::vector<MapEntry> mappings);

  // `pc` is a sampled pc (leaf) or a return address (caller). A return
  // address is looked up at pc - 1: the call, not the statement after it.
  uint64_t location_id(uintptr_t pc, bool is_return_address);
  static uintptr_t lookup_address(uintptr_t pc, bool is_return_address) {
    return is_return_address ? pc - 1 : pc;
  }

  // Looks `addresses` (lookup_address's) up in address order before the
  // locations are asked for, which then come from the symbolizer's cache:
  // lookups go through a module's DWARF units in about the order they are
  // stored, so that what was inflated for the units before can be let go
  // for good (dwarf_image.h).
  void look_up_in_address_order(std::vector<uintptr_t> addresses);
  // The same for every frame of `samples` (each with a `stack` of pcs, the
  // caller's after the callee's): the first pc of each is a sampled pc when
  // `first_is_sampled_pc`, and every other one a return address.
  template <typename Sample>
  void look_up_stacks_in_address_order(const std::vector<Sample>& samples, bool first_is_sampled_pc) {
    std::vector<uintptr_t> addresses;
    for (const Sample& sample : samples)
      for (size_t i = 0; i < sample.stack.size(); i++)
        addresses.push_back(lookup_address(sample.stack[i], i > 0 || !first_is_sampled_pc));
    look_up_in_address_order(std::move(addresses));
  }

  // Sets has_functions / has_filenames / ... on each mapping written, from
  // what its locations had. Call once, before encoding.
  void finish();

 private:
  struct MappingState {
    MapEntry entry;
    uint64_t id = 0;  // 0 until written
    ModuleRef module;
    bool module_known = false;
    bool locations = false, all_named = true, any_file = false, any_line = false;
  };
  MappingState* mapping_of(uintptr_t address);
  ModuleRef module_of(MappingState* m);
  void write_mapping(MappingState* m);

  ProfileBuilder* builder_;
  Symbolizer* symbolizer_;
  std::vector<MappingState> mappings_;  // sorted by start
  std::unordered_map<uintptr_t, uint64_t> by_address_;
};

}  // namespace ppagent
