#include "unwind/stack_walker.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <link.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_map>

#include "base/agent_scope.h"
#include "unwind/cfa_evaluator.h"
#include "unwind/hidden_frames.h"
#include "unwind/rule_cache.h"
#include "unwind/unload_guard.h"

namespace ppagent {

namespace {
__thread StackBounds t_stack_bounds __attribute__((tls_model("initial-exec")));
}  // namespace

StackBounds current_thread_stack() { return t_stack_bounds; }

void note_current_thread_stack() {
  // pthread_getattr_np allocates while holding the thread's own lock: its
  // allocations must not be sampled (sampling would come back here).
  AgentScope scope;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* low = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &low, &size) == 0) {
    t_stack_bounds.low = reinterpret_cast<uintptr_t>(low);
    t_stack_bounds.high = t_stack_bounds.low + size;
  }
  pthread_attr_destroy(&attr);
}

bool safe_read_word(uintptr_t addr, uintptr_t* out) {
  // process_vm_readv on ourselves returns EFAULT instead of raising SIGSEGV.
  struct iovec local = {out, sizeof *out};
  struct iovec remote = {reinterpret_cast<void*>(addr), sizeof *out};
  return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) ==
         static_cast<long>(sizeof *out);
}

namespace {

int count_objects(struct dl_phdr_info* info, size_t size, void* data) {
  auto* counters = static_cast<uint64_t*>(data);
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    counters[0] = info->dlpi_adds;
    counters[1] = info->dlpi_subs;
  }
  return 1;  // the counters are the same in every entry
}

std::atomic<uint32_t> g_next_generation{1};

uint32_t new_generation() {
  uint32_t g = g_next_generation.fetch_add(1);
  if (g == 0) g = g_next_generation.fetch_add(1);  // 0 marks cache entries never written
  return g;
}

}  // namespace

ModuleTables::~ModuleTables() {
  delete current_.load();
  for (Snapshot* s : retired_) delete s;
}

void ModuleTables::refresh(bool force) {
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  ensure_rule_cache();
  uint64_t counters[2] = {0, 0};
  dl_iterate_phdr(count_objects, counters);
  const Snapshot* old = current_.load();
  if (!force && old != nullptr && counters[0] == seen_adds_ && counters[1] == seen_subs_) return;

  // Only the program headers are read, which the loader keeps in its list.
  auto* snapshot = new Snapshot;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Snapshot*>(data);
        LoadedModule module;
        if (describe_loaded_module(*info, &module)) s->modules.push_back(std::move(module));
        return 0;
      },
      snapshot);
  std::unordered_map<const uint8_t*, const LoadedModule*> before;
  if (old)
    for (const LoadedModule& m : old->modules) before[m.view.eh_frame_hdr] = &m;
  for (size_t i = 0; i < snapshot->modules.size(); i++) {
    LoadedModule& module = snapshot->modules[i];
    module.bind();  // the vector of modules may have moved them
    // A module noted before keeps its generation, so its cached rules stay;
    // anything else (also other code where an unloaded module was) gets a
    // new one, so that no rule cached for those addresses applies to it. The
    // same file unloaded and loaded again at the same place between two
    // refreshes keeps it too, which is right: its rules are the same.
    auto it = before.find(module.view.eh_frame_hdr);
    module.generation = it != before.end() && it->second->same_as(module) ? it->second->generation
                                                                         : new_generation();
    for (const AddressRange& code : module.executable)
      snapshot->ranges.push_back(Range{code.start, code.end, i});
  }
  std::sort(snapshot->ranges.begin(), snapshot->ranges.end(),
            [](const Range& a, const Range& b) { return a.start < b.start; });
  seen_adds_ = counters[0];
  seen_subs_ = counters[1];

  current_.store(snapshot);
  if (old) retired_.push_back(const_cast<Snapshot*>(old));
  // A walk that started before the store may still read an old snapshot;
  // once no walk is in flight, none can.
  if (walks_in_flight_.load() == 0) {
    for (Snapshot* s : retired_) delete s;
    retired_.clear();
  }
}

int ModuleTables::unload(void* handle, int (*real_dlclose)(void*)) {
  AgentScope scope;  // the refresh allocates: not the program's allocations
  begin_unload();
  const int result = real_dlclose(handle);
  const int saved_errno = errno;
  refresh();
  end_unload();
  errno = saved_errno;
  return result;
}

size_t ModuleTables::module_count() const {
  const Snapshot* s = current_.load();
  return s ? s->modules.size() : 0;
}

uint32_t ModuleTables::module_generation(uintptr_t pc) const {
  const Snapshot* s = current_.load();
  const LoadedModule* module = s ? module_at(s, pc) : nullptr;
  return module ? module->generation : 0;
}

const LoadedModule* ModuleTables::module_at(const Snapshot* snapshot, uintptr_t pc) {
  const auto& ranges = snapshot->ranges;
  size_t lo = 0, hi = ranges.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ranges[mid].start <= pc) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0 || pc >= ranges[lo - 1].end) return nullptr;
  return &snapshot->modules[ranges[lo - 1].module];
}

bool ModuleTables::rule_at(const Snapshot* snapshot, bool may_read_modules, uintptr_t pc,
                           FrameRule* rule) {
  // Not in a module noted yet (perhaps loaded since the last refresh): stop.
  const LoadedModule* module = snapshot ? module_at(snapshot, pc) : nullptr;
  if (module == nullptr) return false;
  RuleCache* cache = rule_cache();
  if (cache != nullptr && cache->lookup(pc, module->generation, rule))
    return rule->cfa_base != FrameRule::kNone;
  if (!may_read_modules) return false;  // an unload is in progress: cached rules only
  *rule = frame_rule_at(module->view, pc);
  if (cache != nullptr) cache->store(pc, module->generation, *rule);
  return rule->cfa_base != FrameRule::kNone;
}

int ModuleTables::walk(const ucontext_t* context, StackBounds bounds, uintptr_t* pcs,
                       int max_depth) {
  const greg_t* regs = context->uc_mcontext.gregs;
  return walk_registers(regs[REG_RIP], regs[REG_RSP], regs[REG_RBP], true, bounds, pcs, max_depth);
}

int ModuleTables::walk_registers(uintptr_t pc, uintptr_t sp, uintptr_t fp, bool fp_known,
                                 StackBounds bounds, uintptr_t* pcs, int max_depth) {
  if (max_depth <= 0) return 0;
  int depth = 0;
  pcs[depth++] = pc;

  // Direct loads are safe only between the interrupted sp (less the red zone
  // below it, which leaf code uses and the kernel leaves alone when it pushes
  // a signal frame) and the top of this thread's stack; anything else
  // (unknown bounds, an alternate signal stack) goes through the fault-safe read.
  constexpr uintptr_t kRedZone = 128;
  const bool direct =
      bounds.copy == nullptr && bounds.high != 0 && sp >= bounds.low && sp < bounds.high;
  const uintptr_t stack_top = bounds.high;
  auto read = [&](uintptr_t addr, uintptr_t* out) {
    if (bounds.copy != nullptr && addr >= bounds.low && addr < bounds.high &&
        bounds.high - addr >= sizeof(uintptr_t)) {
      memcpy(out, bounds.copy + (addr - bounds.low), sizeof(uintptr_t));
      return true;
    }
    if (direct) {
      if (addr < bounds.low || addr + kRedZone < sp || addr > stack_top - sizeof(uintptr_t) ||
          (addr & 7) != 0)
        return false;
      *out = *reinterpret_cast<const uintptr_t*>(addr);
      return true;
    }
    return safe_read_word(addr, out);
  };

  walks_in_flight_.fetch_add(1);  // keeps the snapshot (refresh())
  WalkGuard guard;                // keeps the modules mapped, or says they may not be read
  const bool may_read_modules = guard.may_read_modules();
  const Snapshot* snapshot = current_.load();
  const uintptr_t signal_return = signal_return_.load(std::memory_order_relaxed);
  uintptr_t lookup = pc;
  while (depth < max_depth) {
    FrameRule found;
    if (!rule_at(snapshot, may_read_modules, lookup, &found)) break;
    const FrameRule* rule = &found;
    uintptr_t cfa;
    switch (rule->cfa_base) {
      case FrameRule::kRsp: cfa = sp + rule->cfa_offset; break;
      case FrameRule::kRbp:
        if (!fp_known) goto done;
        cfa = fp + rule->cfa_offset;
        break;
      case FrameRule::kPlt: cfa = sp + 8 + ((pc & 15) >= static_cast<uintptr_t>(rule->cfa_offset) ? 8 : 0); break;
      case FrameRule::kRspDeref: {
        uintptr_t saved_sp;
        if (!read(sp + rule->cfa_offset, &saved_sp)) goto done;
        cfa = saved_sp + rule->deref_addend;
        break;
      }
      default: goto done;
    }
    if (cfa <= sp) break;  // the stack grows down: a caller's frame is above
    uintptr_t ra;
    if (!read(cfa + rule->ra_offset, &ra)) break;
    if (rule->fp_offset == FrameRule::kFpLost) {
      fp_known = false;
    } else if (rule->fp_offset != FrameRule::kFpUnchanged) {
      uintptr_t saved_fp;
      // A frame that saved the caller's rbp gives it back even when it was
      // unknown before (a walk that starts without it, or after a frame lost it).
      fp_known = read(cfa + rule->fp_offset, &saved_fp);
      if (fp_known) fp = saved_fp;
    }
    sp = cfa;
    pc = ra;
    if (pc < 4096) break;  // the outermost frame (_start, clone) has a zero return address
    if (pc == signal_return && signal_return != 0) {
      // A signal handler's frame returns into the sigreturn trampoline; the
      // kernel's ucontext lies right there, with the interrupted registers.
      auto saved = [&](int reg, uintptr_t* out) {
        return read(sp + offsetof(ucontext_t, uc_mcontext.gregs) + reg * sizeof(greg_t), out);
      };
      uintptr_t rip, rsp, rbp;
      if (!saved(REG_RIP, &rip) || !saved(REG_RSP, &rsp) || !saved(REG_RBP, &rbp)) break;
      if (rip < 4096 || rsp <= sp) break;
      pc = rip;
      sp = rsp;
      fp = rbp;
      fp_known = true;
      pcs[depth++] = pc;
      lookup = pc;  // an interrupted instruction, not a return address
      continue;
    }
    lookup = pc - 1;  // the call instruction, which may be the last of its function
    if (!is_hidden_frame(lookup)) pcs[depth++] = pc;
  }
done:
  walks_in_flight_.fetch_sub(1);
  return depth;
}

}  // namespace ppagent
