// Turns sampled program counters into pprof Locations: one Location per
// address (with its inlined frames), attached to the mapping it falls in,
// named by the Symbolizer. Shared by every profile kind.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "process_maps.h"
#include "profile_builder.h"
#include "symbolizer.h"

namespace ppagent {

class LocationResolver {
 public:
  // Adds every mapping to `builder` now (so that ids are stable).
  LocationResolver(ProfileBuilder* builder, Symbolizer* symbolizer, std::vector<MapEntry> mappings);

  // `pc` is a sampled pc (leaf) or a return address (caller). A return
  // address is looked up at pc - 1: the call, not the statement after it.
  uint64_t location_id(uintptr_t pc, bool is_return_address);

  // Sets has_functions / has_filenames / ... on each mapping from what the
  // resolved locations had. Call once, before encoding.
  void finish();

 private:
  struct MappingState {
    uint64_t id;
    bool all_named = true, any_lines = false;
  };

  ProfileBuilder* builder_;
  Symbolizer* symbolizer_;
  std::vector<MapEntry> mappings_;
  std::vector<MappingState> states_;
  std::unordered_map<uintptr_t, uint64_t> by_address_;
};

}  // namespace ppagent
