#include "unwind/caller_stack.h"

#include <link.h>
#include <ucontext.h>

namespace ppagent {

namespace {

uintptr_t g_own_start = 0, g_own_end = 0;
uintptr_t g_allocator_start = 0, g_allocator_end = 0;

bool is_skipped_frame(uintptr_t pc) {
  return (pc >= g_own_start && pc < g_own_end) ||
         (pc >= g_allocator_start && pc < g_allocator_end);
}

}  // namespace

bool code_segment_of(const void* address, uintptr_t* start, uintptr_t* end) {
  struct Search {
    uintptr_t probe, start = 0, end = 0;
  } search{reinterpret_cast<uintptr_t>(address)};
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && s->probe >= lo && s->probe < hi) {
            s->start = lo;
            s->end = hi;
            return 1;
          }
        }
        return 0;
      },
      &search);
  *start = search.start;
  *end = search.end;
  return search.start != 0;
}

void init_caller_stack() {
  code_segment_of(reinterpret_cast<const void*>(&init_caller_stack), &g_own_start, &g_own_end);
}

void skip_allocator_frames(uintptr_t start, uintptr_t end) {
  g_allocator_start = start;
  g_allocator_end = end;
}

__attribute__((noinline)) int capture_caller_stack(ModuleTables* tables, uintptr_t* pcs,
                                                   int max_depth) {
  // A context for the unwinder from this very point: the CFI row of the
  // instruction after the lea describes the registers the asm reads.
  ucontext_t context;
  uintptr_t rip, rsp, rbp;
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
               : "=r"(rip), "=r"(rsp), "=r"(rbp));
  context.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(rip);
  context.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(rsp);
  context.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(rbp);
  constexpr int kOwnFramesMax = 16;
  uintptr_t all[256 + kOwnFramesMax];
  int want = max_depth + kOwnFramesMax < 256 + kOwnFramesMax ? max_depth + kOwnFramesMax
                                                             : 256 + kOwnFramesMax;
  int depth = tables->walk(&context, current_thread_stack(), all, want);
  int first = 0;
  while (first < depth && is_skipped_frame(all[first])) first++;
  int kept = 0;
  for (int i = first; i < depth && kept < max_depth; i++) pcs[kept++] = all[i];
  return kept;
}

}  // namespace ppagent
