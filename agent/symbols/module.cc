#include "symbols/module.h"

#include <unistd.h>

#include "symbols/debug_file.h"

namespace ppagent {

namespace {
FileIdentity g_without_dwarf;  // plain data: set from the agent's constructor
}  // namespace

void name_without_dwarf(const FileIdentity& identity) { g_without_dwarf = identity; }

Module::Module(const FileIdentity& identity, std::string mapped_path, std::string open_path)
    : identity_(identity), mapped_path_(std::move(mapped_path)), open_path_(std::move(open_path)) {}

Module::Module(const uint8_t* image, size_t size) : memory_image_(image), memory_size_(size) {}

Module::~Module() = default;

bool Module::open(SymbolizerCounters& counters) {
  if (!open_tried_) {
    open_tried_ = true;
    if (memory_image_) {
      file_ = ElfFile::in_memory(memory_image_, memory_size_);
    } else {
      counters.files_opened++;
      file_ = ElfFile::open(open_path_, &identity_);
    }
  }
  return file_ != nullptr;
}

// The loadable segment the mapping shows holds its file offset; any of its
// bytes at file offset o is at runtime address start + (o - offset), and at
// file-relative address p_vaddr + (o - p_offset).
bool Module::load_bias(const MapEntry& mapping, uintptr_t* bias) const {
  if (!file_) return false;
  static const uint64_t page_mask = ~static_cast<uint64_t>(sysconf(_SC_PAGESIZE) - 1);
  const uint64_t offset = memory_image_ ? 0 : mapping.offset;
  for (const Elf64_Phdr& p : file_->program_headers()) {
    if (p.p_type != PT_LOAD) continue;
    const uint64_t first_page = p.p_offset & page_mask;
    if (offset < first_page || offset >= p.p_offset + p.p_filesz) continue;
    *bias = mapping.start - offset - p.p_vaddr + p.p_offset;
    return true;
  }
  return false;
}

std::string Module::build_id() const { return file_ ? hex_string(file_->build_id()) : std::string(); }

void Module::build_index(const ModuleContext& context) {
  indexed_ = true;
  context.counters.indexes_built++;
  // A separate debug file is for a file without DWARF of its own.
  if (!memory_image_ && !file_->has_dwarf())
    debug_file_ = find_debug_file(*file_, mapped_path_, context.debug_root);
  index_.add(file_.get());
  if (debug_file_) index_.add(debug_file_.get());
  index_.finish();
  ElfFile* dwarf_file = file_->has_dwarf() ? file_.get() : debug_file_.get();
  if (!memory_image_ && identity_ == g_without_dwarf) dwarf_file = nullptr;
  if (dwarf_file && dwarf_file->has_dwarf()) dwarf_ = std::make_unique<DwarfFrames>(dwarf_file);
}

const std::vector<SourceFrame>& Module::frames(uint64_t address, const ModuleContext& context) {
  auto found = cache_.find(address);
  if (found != cache_.end()) {
    context.counters.cache_hits++;
    return found->second;
  }
  if (!indexed_ && file_) build_index(context);
  context.counters.addresses_resolved++;
  std::vector<SourceFrame> frames;
  std::string_view symbol = index_.lookup(address);
  const size_t inflated_before = dwarf_ ? dwarf_->inflated_bytes() : 0;
  const bool image_before = dwarf_ && dwarf_->image_opened();
  bool from_dwarf = dwarf_ && dwarf_->frames(address, symbol, &frames);
  if (dwarf_) {
    context.counters.dwarf_bytes_inflated += dwarf_->inflated_bytes() - inflated_before;
    context.counters.dwarf_opened += !image_before && dwarf_->image_opened();
  }
  if (!from_dwarf) {
    frames.clear();
    if (!symbol.empty()) {
      frames.emplace_back();
      frames.back().system_name = std::string(symbol);
    }
  }
  for (SourceFrame& f : frames) f.name = context.demangle(f.system_name);
  return cache_.emplace(address, std::move(frames)).first->second;
}

}  // namespace ppagent
