#include "interpose/plt_rebinding.h"

#include <cstdint>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ppagent {
namespace {

// Enough for the malloc family; rebind_plt_calls takes longer lists in parts.
constexpr size_t kMaxRebindings = 16;

struct Request {
  const PltRebinding* rebindings;
  size_t count;
  bool binds_to_current[kMaxRebindings];  // where a lazy slot would be bound on its first call
  int rewritten;
};

// glibc stores most of .dynamic's addresses already relocated; the vDSO's
// (never written to) are offsets from the load address.
uintptr_t dynamic_address(uintptr_t value, uintptr_t base) {
  return value < base ? value + base : value;
}

bool in_own_segment(const dl_phdr_info* info, uintptr_t address) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (address >= start && address < start + ph.p_memsz) return true;
  }
  return false;
}

// The whole pages of PT_GNU_RELRO: what glibc made read-only after relocation
// (all of the GOT when the object was bound at load time). Empty if none.
void relro_pages(const dl_phdr_info* info, uintptr_t* start, uintptr_t* end) {
  const uintptr_t page_mask = ~(static_cast<uintptr_t>(getpagesize()) - 1);
  *start = *end = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_GNU_RELRO) continue;
    *start = (info->dlpi_addr + ph.p_vaddr) & page_mask;
    *end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & page_mask;
  }
}

// Which of the request's symbols `name` is, or -1.
int rebinding_of(const Request& request, const char* name) {
  for (size_t i = 0; i < request.count; i++) {
    const char* symbol = request.rebindings[i].symbol;
    if (symbol[0] == name[0] && strcmp(symbol, name) == 0) return static_cast<int>(i);
  }
  return -1;
}

int rebind_in_object(dl_phdr_info* info, size_t, void* data) {
  Request* request = static_cast<Request*>(data);
  const uintptr_t base = info->dlpi_addr;
  const ElfW(Dyn)* dynamic = nullptr;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
      dynamic = reinterpret_cast<const ElfW(Dyn)*>(base + info->dlpi_phdr[i].p_vaddr);
  if (dynamic == nullptr) return 0;

  uintptr_t symtab = 0, strtab = 0, jmprel = 0, pltrelsz = 0, pltrel = 0;
  for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = dynamic_address(d->d_un.d_ptr, base); break;
      case DT_STRTAB: strtab = dynamic_address(d->d_un.d_ptr, base); break;
      case DT_JMPREL: jmprel = dynamic_address(d->d_un.d_ptr, base); break;
      case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
      case DT_PLTREL: pltrel = d->d_un.d_val; break;
    }
  }
  if (symtab == 0 || strtab == 0 || jmprel == 0 || pltrel != DT_RELA) return 0;

  // The slots to rewrite, found first, so that the read-only part is opened once.
  uintptr_t* slots[kMaxRebindings];
  uintptr_t values[kMaxRebindings];
  size_t found = 0;
  const auto* symbols = reinterpret_cast<const ElfW(Sym)*>(symtab);
  const auto* names = reinterpret_cast<const char*>(strtab);
  const auto* relocations = reinterpret_cast<const ElfW(Rela)*>(jmprel);
  for (size_t i = 0; i < pltrelsz / sizeof(ElfW(Rela)) && found < kMaxRebindings; i++) {
    const ElfW(Rela)& r = relocations[i];
    if (ELF64_R_TYPE(r.r_info) != R_X86_64_JUMP_SLOT) continue;
    const ElfW(Sym)& sym = symbols[ELF64_R_SYM(r.r_info)];
    // An object that defines the function itself (the agent, libc) keeps its own.
    if (sym.st_shndx != SHN_UNDEF) continue;
    const int which = rebinding_of(*request, names + sym.st_name);
    if (which < 0) continue;
    const PltRebinding& rebinding = request->rebindings[which];
    if (rebinding.current == nullptr || rebinding.target == nullptr) continue;
    const uintptr_t current = reinterpret_cast<uintptr_t>(rebinding.current);
    auto* slot = reinterpret_cast<uintptr_t*>(base + r.r_offset);
    uintptr_t now = __atomic_load_n(slot, __ATOMIC_RELAXED);
    bool unbound = now != current && in_own_segment(info, now);
    if (now != current && !(unbound && request->binds_to_current[which])) continue;
    slots[found] = slot;
    values[found] = reinterpret_cast<uintptr_t>(rebinding.target);
    found++;
  }
  if (found == 0) return 0;

  uintptr_t relro_start, relro_end;
  relro_pages(info, &relro_start, &relro_end);
  bool any_read_only = false;
  for (size_t i = 0; i < found; i++) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(slots[i]);
    any_read_only |= address >= relro_start && address < relro_end;
  }
  void* relro = reinterpret_cast<void*>(relro_start);
  if (any_read_only && mprotect(relro, relro_end - relro_start, PROT_READ | PROT_WRITE) != 0) return 0;
  for (size_t i = 0; i < found; i++) __atomic_store_n(slots[i], values[i], __ATOMIC_RELEASE);
  if (any_read_only) mprotect(relro, relro_end - relro_start, PROT_READ);
  request->rewritten += static_cast<int>(found);
  return 0;
}

}  // namespace

int rebind_plt_calls(const PltRebinding* rebindings, size_t count) {
  int rewritten = 0;
  for (size_t first = 0; first < count; first += kMaxRebindings) {
    Request request{};
    request.rebindings = rebindings + first;
    request.count = count - first < kMaxRebindings ? count - first : kMaxRebindings;
    bool any = false;
    for (size_t i = 0; i < request.count; i++) {
      const PltRebinding& r = request.rebindings[i];
      request.binds_to_current[i] = dlsym(RTLD_DEFAULT, r.symbol) == r.current;
      any |= r.current != nullptr && r.target != nullptr;
    }
    if (!any) continue;
    dl_iterate_phdr(rebind_in_object, &request);
    rewritten += request.rewritten;
  }
  return rewritten;
}

int rebind_plt_calls(const char* symbol, const void* current, const void* target) {
  const PltRebinding rebinding{symbol, current, target};
  return rebind_plt_calls(&rebinding, 1);
}

}  // namespace ppagent
