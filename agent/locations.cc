#include "locations.h"

#include <algorithm>

namespace ppagent {

LocationResolver::LocationResolver(ProfileBuilder* builder, Symbolizer* symbolizer,
                                   std::vector<MapEntry> mappings)
    : builder_(builder), symbolizer_(symbolizer), mappings_(std::move(mappings)) {
  for (const MapEntry& m : mappings_) {
    MappingInfo info;
    info.start = m.start;
    info.limit = m.limit;
    info.file_offset = m.offset;
    info.filename = m.path;
    info.build_id = symbolizer_->build_id(m.start);
    states_.push_back(MappingState{builder_->add_mapping(info)});
  }
}

uint64_t LocationResolver::location_id(uintptr_t pc, bool is_return_address) {
  const uintptr_t address = is_return_address ? pc - 1 : pc;
  auto found = by_address_.find(address);
  if (found != by_address_.end()) return found->second;

  MappingState* state = nullptr;
  for (size_t i = 0; i < mappings_.size(); i++)
    if (address >= mappings_[i].start && address < mappings_[i].limit) state = &states_[i];

  std::vector<LineInfo> lines;
  std::vector<SourceFrame> frames = symbolizer_->frames(address);
  for (const SourceFrame& f : frames)
    lines.push_back({builder_->function_id(f.name, f.system_name, f.file, f.start_line), f.line});

  if (state) {
    state->all_named &= !frames.empty();
    state->any_lines |= std::any_of(frames.begin(), frames.end(),
                                    [](const SourceFrame& f) { return !f.file.empty() && f.line > 0; });
  }
  uint64_t id = builder_->add_location(state ? state->id : 0, address, lines);
  by_address_.emplace(address, id);
  return id;
}

void LocationResolver::finish() {
  for (const MappingState& s : states_) {
    MappingInfo& m = builder_->mapping(s.id);
    // has_functions: every sampled address has a name, so readers need not
    // symbolize again. The others: the mapping had DWARF, so files, lines and
    // inlined frames are as good as they get (a few addresses, such as
    // _start from crt1.o, have none even then).
    m.has_functions = s.all_named;
    m.has_filenames = s.any_lines;
    m.has_line_numbers = s.any_lines;
    m.has_inline_frames = s.any_lines;
  }
}

}  // namespace ppagent
