// What the walker knows of one loaded object, recorded by
// ModuleTables::refresh() from its program headers without reading any of
// its memory: where it is loaded and where its .eh_frame_hdr is. Its unwind
// tables are read in place, on demand, and only inside its PT_LOAD segments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <link.h>
#include <string>
#include <vector>

namespace ppagent {

struct AddressRange {
  uintptr_t start, end;  // [start, end)
};

struct ModuleView {
  uintptr_t bias = 0;                         // dlpi_addr: file addresses + bias = memory
  const uint8_t* eh_frame_hdr = nullptr;      // PT_GNU_EH_FRAME in memory
  const uint8_t* eh_frame_hdr_end = nullptr;  // its end (p_memsz)
  const AddressRange* segments = nullptr;     // PT_LOAD segments, in memory
  size_t segment_count = 0;

  // The end of the segment holding `p`, or nullptr when `p` lies in none:
  // a read that starts at p must stop there.
  const uint8_t* readable_end(const uint8_t* p) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    for (size_t i = 0; i < segment_count; i++)
      if (a >= segments[i].start && a < segments[i].end)
        return reinterpret_cast<const uint8_t*>(segments[i].end);
    return nullptr;
  }
};

// A ModuleView with its own storage, as refresh() and tests build it.
struct LoadedModule {
  ModuleView view;  // segments point into `segments` below: fix with bind() after copying
  std::vector<AddressRange> segments;
  std::vector<AddressRange> executable;  // where its code is (PT_LOAD with PF_X)
  std::string name;                      // dlpi_name ("" for the program)
  // Tags the rules cached for this module (rule_cache.h): the module tables
  // give a new one to each module they had not noted before.
  uint32_t generation = 0;

  // Same file at the same place: then the same rules.
  bool same_as(const LoadedModule& other) const {
    auto same_ranges = [](const std::vector<AddressRange>& a, const std::vector<AddressRange>& b) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); i++)
        if (a[i].start != b[i].start || a[i].end != b[i].end) return false;
      return true;
    };
    return view.bias == other.view.bias && view.eh_frame_hdr == other.view.eh_frame_hdr &&
           view.eh_frame_hdr_end == other.view.eh_frame_hdr_end && name == other.name &&
           same_ranges(segments, other.segments) && same_ranges(executable, other.executable);
  }

  void bind() {
    view.segments = segments.data();
    view.segment_count = segments.size();
  }
};

// Records an object from its program headers (normal context; reads only
// the headers, which dl_iterate_phdr hands over). False for an object with
// no code or no PT_GNU_EH_FRAME: a walk stops in it.
bool describe_loaded_module(const struct dl_phdr_info& info, LoadedModule* out);

}  // namespace ppagent
