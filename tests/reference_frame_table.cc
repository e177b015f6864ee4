#include "reference_frame_table.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "unwind/dwarf_reader.h"

namespace ppagent {
namespace reference {

namespace {

// The byte reader and the pointer encodings are the agent's (unwind/dwarf_reader.h):
// what this file keeps apart from the agent, as a reference, is the CFA logic.
using namespace dwarf;

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = -8;
  uint64_t ra_register = kRegRa;
  uint8_t fde_encoding = kPeAbsptr;
  bool has_augmentation_data = false;
  const uint8_t* instructions = nullptr;
  const uint8_t* end = nullptr;
  bool ok = false;
};

// Reads the length of a CIE/FDE record at p; returns the start of its body.
const uint8_t* record_body(const uint8_t* p, const uint8_t** end) {
  uint32_t len32;
  memcpy(&len32, p, 4);
  p += 4;
  uint64_t len = len32;
  if (len32 == 0xffffffffu) {
    memcpy(&len, p, 8);
    p += 8;
  }
  *end = p + len;
  return p;
}

Cie parse_cie(const uint8_t* record) {
  Cie cie;
  const uint8_t* end;
  const uint8_t* body = record_body(record, &end);
  Reader r(body, end);
  if (r.fixed<uint32_t>() != 0) return cie;  // not a CIE
  uint8_t version = r.u8();
  const char* aug = reinterpret_cast<const char*>(r.pos());
  size_t aug_len = strnlen(aug, end - r.pos());
  r.skip(aug_len + 1);
  if (aug[0] == 'e' && aug[1] == 'h') r.skip(8);
  cie.code_align = r.uleb();
  cie.data_align = r.sleb();
  cie.ra_register = version == 1 ? r.u8() : r.uleb();
  if (aug[0] == 'z') {
    cie.has_augmentation_data = true;
    uint64_t data_len = r.uleb();
    const uint8_t* data_end = r.pos() + data_len;
    for (size_t i = 1; i < aug_len && r.ok(); i++) {
      switch (aug[i]) {
        case 'L': r.u8(); break;
        case 'R': cie.fde_encoding = r.u8(); break;
        case 'P': {
          uint8_t enc = r.u8();
          Reader skip_personality = r;
          (void)skip_personality.pointer(enc & ~kPeIndirect);
          r.skip(skip_personality.pos() - r.pos());
          break;
        }
        case 'S': case 'B': break;
        default: i = aug_len; break;  // unknown: the length tells us where data ends
      }
    }
    if (data_end > r.pos()) r.skip(data_end - r.pos());
  }
  cie.instructions = r.pos();
  cie.end = end;
  cie.ok = r.ok() && cie.ra_register == kRegRa;
  return cie;
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

bool is_plt_cfa_expression(Reader r, uint64_t len, int64_t* threshold) {
  // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge;
  // DW_OP_lit3; DW_OP_shl; DW_OP_plus — the PLT rule gcc/binutils emit.
  static const uint8_t head[] = {0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a};
  static const uint8_t tail[] = {0x2a, 0x33, 0x24, 0x22};
  if (len != sizeof head + 1 + sizeof tail) return false;
  const uint8_t* p = r.pos();
  if (memcmp(p, head, sizeof head) != 0 || memcmp(p + sizeof head + 1, tail, sizeof tail) != 0)
    return false;
  uint8_t lit = p[sizeof head];
  if (lit < 0x30 || lit > 0x4f) return false;
  *threshold = lit - 0x30;
  return true;
}

// The whole expression is breg7 OFF; deref, then at most plus_uconst N < 256.
bool rsp_deref_rule(const uint8_t* e, uint64_t len, int64_t* offset, uint8_t* addend) {
  Reader x(e + 1, e + len);
  *offset = x.sleb();
  if (!x.ok() || x.at_end() || x.u8() != 0x06) return false;
  *addend = 0;
  if (x.at_end()) return x.ok();
  if (x.u8() != 0x23) return false;
  const uint64_t n = x.uleb();
  *addend = static_cast<uint8_t>(n);
  return x.ok() && x.at_end() && n < 256;
}

class RuleCompiler {
 public:
  RuleCompiler(const Cie& cie, uintptr_t bias, std::vector<FrameRule>* out)
      : cie_(cie), bias_(bias), out_(out) {}

  void run_initial() {
    run(cie_.instructions, cie_.end, /*initial=*/true);
    initial_ = state_;
  }

  void run_fde(uintptr_t pc_begin, uintptr_t pc_end, const uint8_t* p, const uint8_t* end) {
    loc_ = pc_begin;
    emitted_any_ = false;
    run(p, end, false);
    emit();
    end_range(pc_end);
  }

 private:
  void emit() {
    if (loc_ < bias_ || loc_ - bias_ > UINT32_MAX) return;
    FrameRule rule{};
    rule.pc_offset = static_cast<uint32_t>(loc_ - bias_);
    bool fits = state_.cfa_offset >= INT32_MIN && state_.cfa_offset <= INT32_MAX &&
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
    // Several rows at one pc: the last one wins.
    if (emitted_any_ && out_->back().pc_offset == rule.pc_offset) out_->back() = rule;
    else out_->push_back(rule);
    emitted_any_ = true;
  }

  void end_range(uintptr_t pc_end) {
    if (pc_end < bias_ || pc_end - bias_ > UINT32_MAX) return;
    FrameRule none{};
    none.pc_offset = static_cast<uint32_t>(pc_end - bias_);
    none.cfa_base = FrameRule::kNone;
    out_->push_back(none);
  }

  void advance(uint64_t delta) {
    emit();
    loc_ += delta * cie_.code_align;
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

  void run(const uint8_t* p, const uint8_t* end, bool initial) {
    Reader r(p, end);
    const int64_t da = cie_.data_align;
    while (!r.at_end() && r.ok()) {
      uint8_t op = r.u8();
      uint8_t low = op & 0x3f;
      switch (op >> 6) {
        case 1: if (!initial) advance(low); continue;                      // advance_loc
        case 2: set_register(low, true, static_cast<int64_t>(r.uleb()) * da); continue;  // offset
        case 3: restore_register(low); continue;                           // restore
        default: break;
      }
      switch (op) {
        case 0x00: break;                                                  // nop
        case 0x01: loc_ = r.pointer(cie_.fde_encoding); break;             // set_loc
        case 0x02: { uint64_t d = r.u8(); if (!initial) advance(d); break; }
        case 0x03: { uint64_t d = r.fixed<uint16_t>(); if (!initial) advance(d); break; }
        case 0x04: { uint64_t d = r.fixed<uint32_t>(); if (!initial) advance(d); break; }
        case 0x05: { uint64_t reg = r.uleb(); set_register(reg, true, static_cast<int64_t>(r.uleb()) * da); break; }
        case 0x06: restore_register(r.uleb()); break;                      // restore_extended
        case 0x07: set_register(r.uleb(), false, 0); break;                // undefined
        case 0x08: {                                                       // same_value
          uint64_t reg = r.uleb();
          if (reg == kRegRbp) state_.fp_offset = FrameRule::kFpUnchanged;
          else set_register(reg, false, 0);
          break;
        }
        case 0x09: { uint64_t reg = r.uleb(); r.uleb(); set_register(reg, false, 0); break; }  // register
        case 0x0a: stack_.push_back(state_); break;                        // remember_state
        case 0x0b:                                                         // restore_state
          if (!stack_.empty()) { state_ = stack_.back(); stack_.pop_back(); }
          break;
        case 0x0c: { uint64_t reg = r.uleb(); def_cfa(reg, static_cast<int64_t>(r.uleb())); break; }
        case 0x0d: def_cfa_register(r.uleb()); break;
        case 0x0e: state_.cfa_offset = static_cast<int64_t>(r.uleb()); break;
        case 0x0f: {                                                       // def_cfa_expression
          uint64_t len = r.uleb();
          int64_t threshold, deref_offset;
          uint8_t addend;
          const uint8_t* e = r.pos();
          if (is_plt_cfa_expression(r, len, &threshold)) {
            state_.cfa_base = FrameRule::kPlt;
            state_.cfa_offset = threshold;
          } else if (len >= 2 && e[0] == 0x77 && rsp_deref_rule(e, len, &deref_offset, &addend)) {
            // DW_OP_breg7 OFF; DW_OP_deref [; DW_OP_plus_uconst N]: OpenSSL's realigned
            // frames, glibc's signal trampoline.
            state_.cfa_base = FrameRule::kRspDeref;
            state_.cfa_offset = deref_offset;
            state_.deref_addend = addend;
          } else {
            state_.cfa_base = FrameRule::kNone;
          }
          r.skip(len);
          break;
        }
        case 0x10: case 0x16: {                                            // (val_)expression
          uint64_t reg = r.uleb();
          r.skip(r.uleb());
          set_register(reg, false, 0);
          break;
        }
        case 0x11: { uint64_t reg = r.uleb(); set_register(reg, true, r.sleb() * da); break; }
        case 0x12: { uint64_t reg = r.uleb(); def_cfa(reg, r.sleb() * da); break; }
        case 0x13: state_.cfa_offset = r.sleb() * da; break;
        case 0x14: { uint64_t reg = r.uleb(); r.uleb(); set_register(reg, false, 0); break; }  // val_offset
        case 0x15: { uint64_t reg = r.uleb(); r.sleb(); set_register(reg, false, 0); break; }
        case 0x2e: r.uleb(); break;                                        // GNU_args_size
        case 0x2f: {                                                       // GNU_negative_offset_extended
          uint64_t reg = r.uleb();
          set_register(reg, true, -static_cast<int64_t>(r.uleb()) * da);
          break;
        }
        default:
          // Unknown instruction: we cannot know its length, so nothing after
          // it can be trusted.
          state_.cfa_base = FrameRule::kNone;
          return;
      }
    }
    if (!r.ok()) state_.cfa_base = FrameRule::kNone;
  }

  const Cie& cie_;
  uintptr_t bias_;
  std::vector<FrameRule>* out_;
  State state_, initial_;
  std::vector<State> stack_;
  uintptr_t loc_ = 0;
  bool emitted_any_ = false;
};

}  // namespace

std::vector<FrameRule> compile_frame_rules(const uint8_t* hdr, uintptr_t bias) {
  std::vector<FrameRule> rules;
  if (hdr == nullptr || hdr[0] != 1) return rules;
  uint8_t eh_frame_ptr_enc = hdr[1], fde_count_enc = hdr[2], table_enc = hdr[3];
  if (fde_count_enc == kPeOmit || table_enc == kPeOmit) return rules;
  const uintptr_t datarel = reinterpret_cast<uintptr_t>(hdr);
  // The header does not record its own size; records are bounded individually.
  const uint8_t* far = reinterpret_cast<const uint8_t*>(UINTPTR_MAX);
  Reader r(hdr + 4, far);
  r.pointer(eh_frame_ptr_enc, datarel);
  uint64_t fde_count = r.pointer(fde_count_enc, datarel);
  if (!r.ok()) return rules;

  std::unordered_map<const uint8_t*, Cie> cies;
  rules.reserve(fde_count * 4);
  for (uint64_t i = 0; i < fde_count && r.ok(); i++) {
    r.pointer(table_enc, datarel);  // initial location: the FDE has it too
    const uint8_t* fde = reinterpret_cast<const uint8_t*>(r.pointer(table_enc, datarel));
    if (!r.ok()) break;

    const uint8_t* end;
    const uint8_t* body = record_body(fde, &end);
    uint32_t cie_delta;
    memcpy(&cie_delta, body, 4);
    if (cie_delta == 0) continue;  // a CIE where an FDE was expected
    const uint8_t* cie_record = body - cie_delta;
    auto it = cies.find(cie_record);
    if (it == cies.end()) it = cies.emplace(cie_record, parse_cie(cie_record)).first;
    const Cie& cie = it->second;
    if (!cie.ok) continue;

    Reader fr(body + 4, end);
    uintptr_t pc_begin = fr.pointer(cie.fde_encoding, datarel);
    uintptr_t pc_range = fr.pointer(cie.fde_encoding & kPeFormatMask);
    if (cie.has_augmentation_data) fr.skip(fr.uleb());
    if (!fr.ok() || pc_range == 0) continue;

    RuleCompiler compiler(cie, bias, &rules);
    compiler.run_initial();
    compiler.run_fde(pc_begin, pc_begin + pc_range, fr.pos(), end);
  }

  // FDEs arrive sorted by start; an end-of-range marker may coincide with the
  // next FDE's first row, which must win. A stable sort keeps the emission order.
  std::stable_sort(rules.begin(), rules.end(),
                   [](const FrameRule& a, const FrameRule& b) { return a.pc_offset < b.pc_offset; });
  std::vector<FrameRule> merged;
  merged.reserve(rules.size());
  for (const FrameRule& rule : rules) {
    if (!merged.empty() && merged.back().pc_offset == rule.pc_offset) {
      if (rule.cfa_base != FrameRule::kNone || merged.back().cfa_base == FrameRule::kNone)
        merged.back() = rule;
    } else {
      merged.push_back(rule);
    }
  }
  merged.shrink_to_fit();
  return merged;
}

const FrameRule* find_frame_rule(const FrameRule* rules, size_t count, uint32_t pc_offset) {
  // Last rule with rule.pc_offset <= pc_offset.
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rules[mid].pc_offset <= pc_offset) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  const FrameRule* rule = &rules[lo - 1];
  return rule->cfa_base == FrameRule::kNone ? nullptr : rule;
}

}  // namespace reference
}  // namespace ppagent
