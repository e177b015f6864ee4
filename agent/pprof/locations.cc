#include "pprof/locations.h"

#include <algorithm>

namespace ppagent {

LocationResolver::LocationResolver(ProfileBuilder* builder, Symbolizer* symbolizer,
                                   std::vector<MapEntry> mappings)
    : builder_(builder), symbolizer_(symbolizer) {
  mappings_.resize(mappings.size());
  for (size_t i = 0; i < mappings.size(); i++) mappings_[i].entry = std::move(mappings[i]);
  std::sort(mappings_.begin(), mappings_.end(),
            [](const MappingState& a, const MappingState& b) { return a.entry.start < b.entry.start; });
  for (MappingState& m : mappings_)
    if (m.entry.main_executable) write_mapping(&m);
}

ModuleRef LocationResolver::module_of(MappingState* m) {
  if (!m->module_known) {
    m->module = symbolizer_->module(m->entry);
    m->module_known = true;
  }
  return m->module;
}

void LocationResolver::write_mapping(MappingState* m) {
  module_of(m);
  MappingInfo info;
  info.start = m->entry.start;
  info.limit = m->entry.limit;
  info.file_offset = m->entry.offset;
  info.filename = m->entry.path;
  info.build_id = symbolizer_->build_id(m->module);
  m->id = builder_->add_mapping(info);
}

LocationResolver::MappingState* LocationResolver::mapping_of(uintptr_t address) {
  auto after = std::upper_bound(mappings_.begin(), mappings_.end(), address,
                                [](uintptr_t a, const MappingState& m) { return a < m.entry.start; });
  if (after == mappings_.begin()) return nullptr;
  MappingState* m = &*(after - 1);
  return address < m->entry.limit ? m : nullptr;
}

void LocationResolver::look_up_in_address_order(std::vector<uintptr_t> addresses) {
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  for (uintptr_t address : addresses) {
    if (by_address_.count(address)) continue;
    if (MappingState* m = mapping_of(address)) symbolizer_->frames(module_of(m), address);
  }
}

uint64_t LocationResolver::location_id(uintptr_t pc, bool is_return_address) {
  const uintptr_t address = lookup_address(pc, is_return_address);
  auto found = by_address_.find(address);
  if (found != by_address_.end()) return found->second;

  MappingState* m = mapping_of(address);
  std::vector<LineInfo> lines;
  if (m) {
    if (m->id == 0) write_mapping(m);
    std::vector<SourceFrame> frames = symbolizer_->frames(m->module, address);
    for (const SourceFrame& f : frames)
      lines.push_back({builder_->function_id(f.name, f.system_name, f.file, f.start_line), f.line});
    m->locations = true;
    m->all_named &= !frames.empty();
    for (const SourceFrame& f : frames) {
      m->any_file |= !f.file.empty();
      m->any_line |= f.line > 0;
    }
  }
  uint64_t id = builder_->add_location(m ? m->id : 0, address, lines);
  by_address_.emplace(address, id);
  return id;
}

// The flags follow how go tool pprof (Go 1.19, internal/symbolizer) reads
// them. It symbolizes again, from the binary on the reading machine, every
// mapping with locations that has none of has_functions, has_filenames and
// has_line_numbers, and replaces the names of every location it resolves
// there: with DW_AT_name only (no C++ scope, no inlined frames), and with a
// "Local symbolization failed" warning per mapping whose file it cannot open.
// Over HTTP it also asks /symbol for mappings without has_functions. When it
// symbolizes a mapping itself it sets has_filenames / has_line_numbers when
// any frame got a file / a line, and has_inline_frames once frames came back.
// So, per written mapping with locations:
// - has_functions: every location has a function (none left for /symbol);
// - has_filenames, has_line_numbers: some location has a file, a line -- its
//   DWARF was read, so the reader has nothing to add and must not replace;
// - has_inline_frames: as has_filenames: with DWARF, inlined calls are frames.
// A mapping named from its symbol table only, with some address in no
// symbol, has none set: pprof may look there, and can only add names (it
// reads only DWARF, which that file does not have).
void LocationResolver::finish() {
  for (const MappingState& m : mappings_) {
    if (m.id == 0 || !m.locations) continue;
    MappingInfo& info = builder_->mapping(m.id);
    info.has_functions = m.all_named;
    info.has_filenames = m.any_file;
    info.has_line_numbers = m.any_line;
    info.has_inline_frames = m.any_file;
  }
}

}  // namespace ppagent
