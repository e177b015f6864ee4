#include "unwind/module_view.h"

#include <elf.h>

namespace ppagent {

bool describe_loaded_module(const struct dl_phdr_info& info, LoadedModule* out) {
  LoadedModule module;
  module.view.bias = info.dlpi_addr;
  module.name = info.dlpi_name ? info.dlpi_name : "";
  for (int i = 0; i < info.dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    const uintptr_t start = info.dlpi_addr + ph.p_vaddr, end = start + ph.p_memsz;
    if (ph.p_type == PT_LOAD && ph.p_memsz > 0) {
      if (ph.p_flags & PF_R) module.segments.push_back({start, end});
      if (ph.p_flags & PF_X) module.executable.push_back({start, end});
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      module.view.eh_frame_hdr = reinterpret_cast<const uint8_t*>(start);
      module.view.eh_frame_hdr_end = reinterpret_cast<const uint8_t*>(end);
    }
  }
  if (module.executable.empty() || module.view.eh_frame_hdr == nullptr) return false;
  *out = std::move(module);
  out->bind();
  return true;
}

}  // namespace ppagent
