#include "stack_walker.h"

#include "agent_scope.h"
#include "hidden_frames.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

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

struct ObjectInfo {
  std::string key;
  uintptr_t bias;
  const uint8_t* eh_frame_hdr;
  std::vector<std::pair<uintptr_t, uintptr_t>> exec_ranges;
};

struct IterateState {
  std::vector<ObjectInfo>* objects;
  uint64_t adds = 0, subs = 0;
  bool counters_only;
};

int collect_object(struct dl_phdr_info* info, size_t size, void* data) {
  auto* state = static_cast<IterateState*>(data);
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    state->adds = info->dlpi_adds;
    state->subs = info->dlpi_subs;
  }
  if (state->counters_only) return 1;
  ObjectInfo object;
  object.bias = info->dlpi_addr;
  object.eh_frame_hdr = nullptr;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
      object.exec_ranges.emplace_back(info->dlpi_addr + ph.p_vaddr,
                                      info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    else if (ph.p_type == PT_GNU_EH_FRAME)
      object.eh_frame_hdr = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
  }
  if (object.exec_ranges.empty() || object.eh_frame_hdr == nullptr) return 0;
  // Rules are relative to the load bias, so the same file opened again at
  // another address reuses them: identify it by name and layout, not address.
  uintptr_t text_size = 0;
  for (const auto& [start, end] : object.exec_ranges) text_size += end - start;
  object.key = std::string(info->dlpi_name ? info->dlpi_name : "") + "@" +
               std::to_string(reinterpret_cast<uintptr_t>(object.eh_frame_hdr) - object.bias) +
               "@" + std::to_string(text_size);
  state->objects->push_back(std::move(object));
  return 0;
}

}  // namespace

void ModuleTables::refresh(bool force) {
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  std::vector<ObjectInfo> objects;
  IterateState state{&objects, 0, 0, true};
  dl_iterate_phdr(collect_object, &state);
  if (!force && current_.load() != nullptr && state.adds == seen_adds_ && state.subs == seen_subs_)
    return;

  // Compile inside the iteration: the loader lock it holds keeps every object
  // mapped while its .eh_frame is read.
  struct CompileState {
    IterateState iterate;
    ModuleTables* self;
    std::vector<Range> ranges;
  } cs{{&objects, 0, 0, false}, this, {}};
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t size, void* data) {
        auto* c = static_cast<CompileState*>(data);
        size_t before = c->iterate.objects->size();
        collect_object(info, size, &c->iterate);
        if (c->iterate.objects->size() == before) return 0;
        ObjectInfo& object = c->iterate.objects->back();
        auto& slot = c->self->compiled_[object.key];
        if (!slot) {
          slot = std::make_unique<Compiled>();
          slot->rules = compile_frame_rules(object.eh_frame_hdr, object.bias);
        }
        for (const auto& [start, end] : object.exec_ranges)
          c->ranges.push_back(Range{start, end, object.bias, slot->rules.data(), slot->rules.size()});
        return 0;
      },
      &cs);
  seen_adds_ = cs.iterate.adds;
  seen_subs_ = cs.iterate.subs;

  auto* snapshot = new Snapshot{std::move(cs.ranges)};
  std::sort(snapshot->ranges.begin(), snapshot->ranges.end(),
            [](const Range& a, const Range& b) { return a.start < b.start; });
  Snapshot* old = current_.exchange(snapshot);
  if (old) retired_.push_back(old);
  // A walk that started before the exchange may still read an old snapshot;
  // once no walk is in flight, none can.
  if (walks_in_flight_.load() == 0) {
    for (Snapshot* s : retired_) delete s;
    retired_.clear();
  }
}

size_t ModuleTables::rule_count() const {
  size_t n = 0;
  const Snapshot* s = current_.load();
  if (s)
    for (const Range& r : s->ranges) n += r.count;
  return n;
}

const FrameRule* ModuleTables::find(const Snapshot* s, uintptr_t pc) const {
  const auto& ranges = s->ranges;
  size_t lo = 0, hi = ranges.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (ranges[mid].start <= pc) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  const Range& r = ranges[lo - 1];
  if (pc >= r.end) return nullptr;
  return find_frame_rule(r.rules, r.count, static_cast<uint32_t>(pc - r.bias));
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

  // Direct loads are safe only between the interrupted sp and the top of this
  // thread's stack; anything else (unknown bounds, an alternate signal stack)
  // goes through the fault-safe read.
  const bool direct = bounds.high != 0 && sp >= bounds.low && sp < bounds.high;
  const uintptr_t stack_top = bounds.high;
  auto read = [&](uintptr_t addr, uintptr_t* out) {
    if (direct) {
      if (addr < sp || addr > stack_top - sizeof(uintptr_t) || (addr & 7) != 0) return false;
      *out = *reinterpret_cast<const uintptr_t*>(addr);
      return true;
    }
    return safe_read_word(addr, out);
  };

  walks_in_flight_.fetch_add(1);
  const Snapshot* snapshot = current_.load();
  const uintptr_t signal_return = signal_return_.load(std::memory_order_relaxed);
  uintptr_t lookup = pc;
  while (snapshot && depth < max_depth) {
    const FrameRule* rule = find(snapshot, lookup);
    if (rule == nullptr) break;
    uintptr_t cfa;
    switch (rule->cfa_base) {
      case FrameRule::kRsp: cfa = sp + rule->cfa_offset; break;
      case FrameRule::kRbp:
        if (!fp_known) goto done;
        cfa = fp + rule->cfa_offset;
        break;
      case FrameRule::kPlt: cfa = sp + 8 + ((pc & 15) >= static_cast<uintptr_t>(rule->cfa_offset) ? 8 : 0); break;
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
