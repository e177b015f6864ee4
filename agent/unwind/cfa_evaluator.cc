#include "unwind/cfa_evaluator.h"

#include <cstring>

#include "unwind/dwarf_reader.h"
#include "unwind/eh_frame_hdr.h"

namespace ppagent {

namespace {

using dwarf::Reader;
using dwarf::kRegRa;
using dwarf::kRegRbp;
using dwarf::kRegRsp;

// A CIE or FDE record at `p`: its body and end, both inside the segment that
// holds p. False when the record does not fit there.
bool record_bounds(const ModuleView& module, const uint8_t* p, const uint8_t** body,
                   const uint8_t** end) {
  const uint8_t* limit = module.readable_end(p);
  if (limit == nullptr) return false;
  Reader r(p, limit);
  uint64_t length = r.fixed<uint32_t>();
  if (length == 0xffffffffu) length = r.fixed<uint64_t>();
  if (!r.ok() || length == 0 || length > static_cast<uint64_t>(limit - r.pos())) return false;
  *body = r.pos();
  *end = r.pos() + length;
  return true;
}

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = -8;
  uint64_t ra_register = kRegRa;
  uint8_t fde_encoding = dwarf::kPeAbsptr;
  bool has_augmentation_data = false;
  const uint8_t* instructions = nullptr;
  const uint8_t* end = nullptr;
};

bool parse_cie(const ModuleView& module, const uint8_t* record, Cie* cie) {
  const uint8_t *body, *end;
  if (!record_bounds(module, record, &body, &end)) return false;
  Reader r(body, end);
  if (r.fixed<uint32_t>() != 0) return false;  // not a CIE
  const uint8_t version = r.u8();
  if (!r.ok()) return false;
  const char* aug = reinterpret_cast<const char*>(r.pos());
  const size_t aug_len = strnlen(aug, static_cast<size_t>(end - r.pos()));
  if (aug_len == static_cast<size_t>(end - r.pos())) return false;  // unterminated
  r.skip(aug_len + 1);
  if (aug[0] == 'e' && aug[1] == 'h') r.skip(8);
  cie->code_align = r.uleb();
  cie->data_align = r.sleb();
  cie->ra_register = version == 1 ? r.u8() : r.uleb();
  if (aug[0] == 'z') {
    cie->has_augmentation_data = true;
    const uint64_t data_len = r.uleb();
    const uint8_t* data_start = r.pos();
    for (size_t i = 1; i < aug_len && r.ok(); i++) {
      switch (aug[i]) {
        case 'L': r.u8(); break;
        case 'R': cie->fde_encoding = r.u8(); break;
        case 'P': {
          const uint8_t enc = r.u8();
          Reader personality = r;
          (void)personality.pointer(enc & ~dwarf::kPeIndirect);
          r.skip(static_cast<uint64_t>(personality.pos() - r.pos()));
          break;
        }
        case 'S': case 'B': break;
        default: i = aug_len; break;  // unknown: the length tells us where data ends
      }
    }
    const uint64_t parsed = static_cast<uint64_t>(r.pos() - data_start);
    if (data_len > parsed) r.skip(data_len - parsed);
  }
  cie->instructions = r.pos();
  cie->end = end;
  return r.ok() && cie->ra_register == kRegRa;
}

// The register rules the walker can use, as a CFA program leaves them.
struct State {
  FrameRule::CfaBase cfa_base = FrameRule::kNone;
  int64_t cfa_offset = 0;
  uint8_t deref_addend = 0;
  int64_t fp_offset = FrameRule::kFpUnchanged;
  int64_t ra_offset = -8;
  bool ra_known = true;
};

bool is_plt_cfa_expression(const Reader& r, uint64_t len, int64_t* threshold) {
  // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge;
  // DW_OP_lit3; DW_OP_shl; DW_OP_plus — the PLT rule gcc/binutils emit.
  static const uint8_t head[] = {0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a};
  static const uint8_t tail[] = {0x2a, 0x33, 0x24, 0x22};
  if (len != sizeof head + 1 + sizeof tail) return false;
  if (static_cast<uint64_t>(r.end() - r.pos()) < len) return false;
  const uint8_t* p = r.pos();
  if (memcmp(p, head, sizeof head) != 0 || memcmp(p + sizeof head + 1, tail, sizeof tail) != 0)
    return false;
  const uint8_t lit = p[sizeof head];
  if (lit < 0x30 || lit > 0x4f) return false;
  *threshold = lit - 0x30;
  return true;
}

// DW_OP_breg7 OFFSET; DW_OP_deref [; DW_OP_plus_uconst ADDEND]: the CFA is a
// value saved on the stack, plus a constant. OpenSSL's perlasm emits it
// (cfi_cfa_expression) for functions that realign rsp and keep the caller's
// rsp in a slot, such as sha512_block_data_order_avx2.
bool is_deref_cfa_expression(const uint8_t* p, uint64_t len, int64_t* offset, uint8_t* addend) {
  Reader e(p, p + len);
  if (e.u8() != 0x77) return false;  // DW_OP_breg7 (rsp)
  *offset = e.sleb();
  if (e.u8() != 0x06) return false;  // DW_OP_deref
  *addend = 0;
  if (e.ok() && !e.at_end()) {
    if (e.u8() != 0x23) return false;  // DW_OP_plus_uconst
    const uint64_t value = e.uleb();
    if (value > UINT8_MAX) return false;
    *addend = static_cast<uint8_t>(value);
  }
  return e.ok() && e.at_end() && *offset >= INT32_MIN && *offset <= INT32_MAX;
}

// Runs CFA programs up to a target pc. The row in force at the target is the
// state when the next advance would pass it (or when the program ends):
// rows at one location follow each other, and the last one wins.
class CfaEvaluator {
 public:
  CfaEvaluator(const Cie& cie, uintptr_t target) : cie_(cie), target_(target) {}

  enum class Outcome { kEnd, kReached, kFailed };

  // The CIE's initial instructions. Their failure leaves the CFA unknown but,
  // as a whole-table compiler would, lets the FDE define it again.
  void run_initial() {
    if (run(cie_.instructions, cie_.end, /*initial=*/true) == Outcome::kFailed)
      state_.cfa_base = FrameRule::kNone;
    initial_ = state_;
  }

  FrameRule run_fde(uintptr_t pc_begin, uintptr_t bias, const uint8_t* p, const uint8_t* end) {
    loc_ = pc_begin;
    if (run(p, end, /*initial=*/false) == Outcome::kFailed || overflowed_)
      state_.cfa_base = FrameRule::kNone;
    return rule(bias);
  }

 private:
  FrameRule rule(uintptr_t bias) const {
    FrameRule rule{};
    rule.cfa_base = FrameRule::kNone;
    if (loc_ < bias || loc_ - bias > UINT32_MAX) return rule;
    rule.pc_offset = static_cast<uint32_t>(loc_ - bias);
    const bool fits = state_.cfa_offset >= INT32_MIN && state_.cfa_offset <= INT32_MAX &&
                      state_.ra_offset >= INT32_MIN && state_.ra_offset <= INT32_MAX;
    rule.cfa_base = !state_.ra_known ? FrameRule::kOutermost
                  : fits             ? state_.cfa_base
                                     : FrameRule::kNone;
    rule.cfa_offset = static_cast<int32_t>(state_.cfa_offset);
    rule.deref_addend = state_.deref_addend;
    rule.ra_offset = static_cast<int32_t>(state_.ra_offset);
    if (state_.fp_offset == FrameRule::kFpUnchanged || state_.fp_offset == FrameRule::kFpLost)
      rule.fp_offset = static_cast<int16_t>(state_.fp_offset);
    else if (state_.fp_offset > INT16_MIN + 1 && state_.fp_offset <= INT16_MAX)
      rule.fp_offset = static_cast<int16_t>(state_.fp_offset);
    else
      rule.fp_offset = FrameRule::kFpLost;
    return rule;
  }

  // Moves to `next`; false when that passes the target (stop: the current
  // state is the answer).
  bool move_to(uintptr_t next) {
    if (next > target_) return false;
    loc_ = next;
    return true;
  }

  bool advance(uint64_t delta) {
    const uint64_t bytes = delta * cie_.code_align;
    if (cie_.code_align != 0 && bytes / cie_.code_align != delta) return false;
    if (bytes > UINTPTR_MAX - loc_) return false;
    return move_to(loc_ + bytes);
  }

  void set_register(uint64_t reg, bool known, int64_t offset) {
    if (reg == kRegRbp) state_.fp_offset = known ? offset : FrameRule::kFpLost;
    else if (reg == kRegRa) { state_.ra_known = known; state_.ra_offset = offset; }
  }

  void restore_register(uint64_t reg) {
    if (reg == kRegRbp) state_.fp_offset = initial_.fp_offset;
    else if (reg == kRegRa) { state_.ra_known = initial_.ra_known; state_.ra_offset = initial_.ra_offset; }
  }

  void def_cfa(uint64_t reg, int64_t offset) {
    state_.cfa_offset = offset;
    def_cfa_register(reg);
  }

  void def_cfa_register(uint64_t reg) {
    state_.cfa_base = reg == kRegRsp ? FrameRule::kRsp
                    : reg == kRegRbp ? FrameRule::kRbp
                                     : FrameRule::kNone;
  }

  Outcome run(const uint8_t* p, const uint8_t* end, bool initial) {
    Reader r(p, end);
    const int64_t da = cie_.data_align;
    while (!r.at_end() && r.ok()) {
      const uint8_t op = r.u8();
      const uint8_t low = op & 0x3f;
      switch (op >> 6) {
        case 1:                                                            // advance_loc
          if (!initial && !advance(low)) return Outcome::kReached;
          continue;
        case 2: set_register(low, true, static_cast<int64_t>(r.uleb()) * da); continue;  // offset
        case 3: restore_register(low); continue;                           // restore
        default: break;
      }
      switch (op) {
        case 0x00: break;                                                  // nop
        case 0x01: {                                                       // set_loc
          // A new row at an absolute address (no toolchain emits this in .eh_frame).
          const uintptr_t next = r.pointer(cie_.fde_encoding);
          if (initial || !r.ok()) break;
          if (next < loc_) return Outcome::kFailed;
          if (!move_to(next)) return Outcome::kReached;
          break;
        }
        case 0x02: { const uint64_t d = r.u8(); if (r.ok() && !initial && !advance(d)) return Outcome::kReached; break; }
        case 0x03: { const uint64_t d = r.fixed<uint16_t>(); if (r.ok() && !initial && !advance(d)) return Outcome::kReached; break; }
        case 0x04: { const uint64_t d = r.fixed<uint32_t>(); if (r.ok() && !initial && !advance(d)) return Outcome::kReached; break; }
        case 0x05: { const uint64_t reg = r.uleb(); set_register(reg, true, static_cast<int64_t>(r.uleb()) * da); break; }
        case 0x06: restore_register(r.uleb()); break;                      // restore_extended
        case 0x07: set_register(r.uleb(), false, 0); break;                // undefined
        case 0x08: {                                                       // same_value
          const uint64_t reg = r.uleb();
          if (reg == kRegRbp) state_.fp_offset = FrameRule::kFpUnchanged;
          else set_register(reg, false, 0);
          break;
        }
        case 0x09: { const uint64_t reg = r.uleb(); r.uleb(); set_register(reg, false, 0); break; }  // register
        case 0x0a:                                                         // remember_state
          if (depth_ == kMaxRememberedStates) {
            overflowed_ = true;
            return Outcome::kFailed;
          }
          stack_[depth_++] = state_;
          break;
        case 0x0b:                                                         // restore_state
          if (depth_ > 0) state_ = stack_[--depth_];
          break;
        case 0x0c: { const uint64_t reg = r.uleb(); def_cfa(reg, static_cast<int64_t>(r.uleb())); break; }
        case 0x0d: def_cfa_register(r.uleb()); break;
        case 0x0e: state_.cfa_offset = static_cast<int64_t>(r.uleb()); break;
        case 0x0f: {                                                       // def_cfa_expression
          const uint64_t len = r.uleb();
          int64_t threshold, offset;
          uint8_t addend;
          if (r.ok() && is_plt_cfa_expression(r, len, &threshold)) {
            state_.cfa_base = FrameRule::kPlt;
            state_.cfa_offset = threshold;
          } else if (r.ok() && static_cast<uint64_t>(r.end() - r.pos()) >= len &&
                     is_deref_cfa_expression(r.pos(), len, &offset, &addend)) {
            state_.cfa_base = FrameRule::kRspDeref;
            state_.cfa_offset = offset;
            state_.deref_addend = addend;
          } else {
            state_.cfa_base = FrameRule::kNone;
          }
          r.skip(len);
          break;
        }
        case 0x10: case 0x16: {                                            // (val_)expression
          const uint64_t reg = r.uleb();
          r.skip(r.uleb());
          set_register(reg, false, 0);
          break;
        }
        case 0x11: { const uint64_t reg = r.uleb(); set_register(reg, true, r.sleb() * da); break; }
        case 0x12: { const uint64_t reg = r.uleb(); def_cfa(reg, r.sleb() * da); break; }
        case 0x13: state_.cfa_offset = r.sleb() * da; break;
        case 0x14: { const uint64_t reg = r.uleb(); r.uleb(); set_register(reg, false, 0); break; }  // val_offset
        case 0x15: { const uint64_t reg = r.uleb(); r.sleb(); set_register(reg, false, 0); break; }
        case 0x2e: r.uleb(); break;                                        // GNU_args_size
        case 0x2f: {                                                       // GNU_negative_offset_extended
          const uint64_t reg = r.uleb();
          set_register(reg, true, -static_cast<int64_t>(r.uleb()) * da);
          break;
        }
        default:
          // Unknown instruction: we cannot know its length, so nothing after
          // it can be trusted.
          return Outcome::kFailed;
      }
    }
    return r.ok() ? Outcome::kEnd : Outcome::kFailed;
  }

  const Cie& cie_;
  const uintptr_t target_;
  State state_, initial_;
  State stack_[kMaxRememberedStates];
  int depth_ = 0;
  bool overflowed_ = false;
  uintptr_t loc_ = 0;
};

FrameRule no_rule() {
  FrameRule rule{};
  rule.cfa_base = FrameRule::kNone;
  return rule;
}

}  // namespace

namespace {

// An FDE's CIE, the code it covers and its CFA program, all bounds checked.
struct Fde {
  Cie cie;
  uintptr_t pc_begin, pc_end;
  const uint8_t* instructions;
  const uint8_t* end;
};

bool parse_fde(const ModuleView& module, const uint8_t* fde, Fde* out) {
  const uint8_t *body, *end;
  if (fde == nullptr || !record_bounds(module, fde, &body, &end)) return false;
  if (end - body < 4) return false;
  uint32_t cie_delta;
  memcpy(&cie_delta, body, 4);
  if (cie_delta == 0) return false;  // a CIE where an FDE was expected
  if (cie_delta > reinterpret_cast<uintptr_t>(body)) return false;
  if (!parse_cie(module, body - cie_delta, &out->cie)) return false;

  const uintptr_t datarel = reinterpret_cast<uintptr_t>(module.eh_frame_hdr);
  Reader r(body + 4, end);
  out->pc_begin = r.pointer(out->cie.fde_encoding, datarel);
  const uintptr_t pc_range = r.pointer(out->cie.fde_encoding & dwarf::kPeFormatMask);
  if (out->cie.has_augmentation_data) r.skip(r.uleb());
  if (!r.ok() || pc_range == 0 || pc_range > UINTPTR_MAX - out->pc_begin) return false;
  out->pc_end = out->pc_begin + pc_range;
  out->instructions = r.pos();
  out->end = end;
  return true;
}

}  // namespace

bool fde_pc_range(const ModuleView& module, const uint8_t* fde, uintptr_t* begin, uintptr_t* end) {
  Fde parsed;
  if (!parse_fde(module, fde, &parsed)) return false;
  *begin = parsed.pc_begin;
  *end = parsed.pc_end;
  return true;
}

FrameRule frame_rule_in_fde(const ModuleView& module, const uint8_t* fde, uintptr_t pc) {
  Fde parsed;
  if (!parse_fde(module, fde, &parsed) || pc < parsed.pc_begin || pc >= parsed.pc_end)
    return no_rule();
  CfaEvaluator evaluator(parsed.cie, pc);
  evaluator.run_initial();
  return evaluator.run_fde(parsed.pc_begin, module.bias, parsed.instructions, parsed.end);
}

FrameRule frame_rule_at(const ModuleView& module, uintptr_t pc) {
  return frame_rule_in_fde(module, find_fde(module, pc), pc);
}

}  // namespace ppagent
