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

struct Request {
  const char* symbol;
  uintptr_t current;
  uintptr_t target;
  uintptr_t page_size;
  bool binds_to_current;  // where a lazy slot would be bound on its first call
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

// The slot may sit in the part made read-only after relocation (all of the
// GOT when the object was bound at load time): unprotected for the one store.
// That part is what glibc protected: the whole pages of PT_GNU_RELRO.
bool store_slot(const dl_phdr_info* info, uintptr_t* slot, uintptr_t value, uintptr_t page_size) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(slot);
  const uintptr_t page_mask = ~(page_size - 1);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_GNU_RELRO) continue;
    uintptr_t start = (info->dlpi_addr + ph.p_vaddr) & page_mask;
    uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & page_mask;
    if (address < start || address >= end) continue;
    void* page = reinterpret_cast<void*>(address & page_mask);
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) return false;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    mprotect(page, page_size, PROT_READ);
    return true;
  }
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
  return true;
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

  const auto* symbols = reinterpret_cast<const ElfW(Sym)*>(symtab);
  const auto* names = reinterpret_cast<const char*>(strtab);
  const auto* relocations = reinterpret_cast<const ElfW(Rela)*>(jmprel);
  for (size_t i = 0; i < pltrelsz / sizeof(ElfW(Rela)); i++) {
    const ElfW(Rela)& r = relocations[i];
    if (ELF64_R_TYPE(r.r_info) != R_X86_64_JUMP_SLOT) continue;
    const ElfW(Sym)& sym = symbols[ELF64_R_SYM(r.r_info)];
    // An object that defines the function itself (the agent, libc) keeps its own.
    if (sym.st_shndx != SHN_UNDEF || strcmp(names + sym.st_name, request->symbol) != 0) continue;
    auto* slot = reinterpret_cast<uintptr_t*>(base + r.r_offset);
    uintptr_t now = __atomic_load_n(slot, __ATOMIC_RELAXED);
    bool unbound = now != request->current && in_own_segment(info, now);
    if (now != request->current && !(unbound && request->binds_to_current)) continue;
    if (store_slot(info, slot, request->target, request->page_size)) request->rewritten++;
  }
  return 0;
}

}  // namespace

int rebind_plt_calls(const char* symbol, const void* current, const void* target) {
  if (current == nullptr || target == nullptr) return 0;
  Request request{symbol, reinterpret_cast<uintptr_t>(current), reinterpret_cast<uintptr_t>(target),
                  static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)),
                  dlsym(RTLD_DEFAULT, symbol) == current, 0};
  dl_iterate_phdr(rebind_in_object, &request);
  return request.rewritten;
}

}  // namespace ppagent
