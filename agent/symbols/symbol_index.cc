#include "symbols/symbol_index.h"

#include <algorithm>
#include <cstring>

namespace ppagent {

namespace {

// An address past the symbol nearest below it may still lie in an earlier,
// larger symbol that encloses that one (hand-written assembly does this).
// Looking back this many entries finds it; nesting deeper is not seen.
constexpr size_t kEnclosingLookBack = 16;

constexpr uint32_t kSecondFile = 0x80000000u;

// Aliases at one address resolve to one name, the same in every run:
// GLOBAL (and GNU_UNIQUE) first, then WEAK, then LOCAL -- the exported name
// is the one a user knows (memcpy rather than __memcpy_avx_unaligned) -- then
// the module's own table before its debug file's, then the earlier symbol.
uint64_t binding_rank(unsigned char info) {
  switch (ELF64_ST_BIND(info)) {
    case STB_GLOBAL:
    case STB_GNU_UNIQUE: return 0;
    case STB_WEAK: return 1;
    case STB_LOCAL: return 2;
    default: return 3;
  }
}

}  // namespace

void SymbolIndex::add(const ElfFile* file) {
  if (strings_.size() >= 2) return;
  const Elf64_Shdr* table = nullptr;
  for (size_t i = 0; i < file->section_count() && table == nullptr; i++)
    if (file->section(i).sh_type == SHT_SYMTAB) table = &file->section(i);
  for (size_t i = 0; i < file->section_count() && table == nullptr; i++)
    if (file->section(i).sh_type == SHT_DYNSYM) table = &file->section(i);
  if (table == nullptr || table->sh_link >= file->section_count() ||
      table->sh_entsize != sizeof(Elf64_Sym) || !file->contains(table->sh_offset, table->sh_size))
    return;
  const Elf64_Shdr& names = file->section(table->sh_link);
  if (names.sh_type != SHT_STRTAB || !file->contains(names.sh_offset, names.sh_size)) return;

  const uint64_t file_index = strings_.size();
  strings_.push_back({file, names.sh_offset, names.sh_size});
  const size_t count = table->sh_size / sizeof(Elf64_Sym);
  file->prefault(table->sh_offset, count * sizeof(Elf64_Sym));
  const uint8_t* symbols = file->at(table->sh_offset);
  auto wanted = [&](const Elf64_Sym& sym) {
    const unsigned type = ELF64_ST_TYPE(sym.st_info);
    return (type == STT_FUNC || type == STT_GNU_IFUNC) && sym.st_shndx != SHN_UNDEF &&
           sym.st_size != 0 && sym.st_name != 0 && sym.st_name < names.sh_size &&
           sym.st_name < kSecondFile;
  };
  // Counted first: a large table (node's has 110,000 symbols) would
  // otherwise be copied again at every growth of the vector.
  size_t functions = 0;
  for (size_t i = 0; i < count; i++) {
    Elf64_Sym sym;
    memcpy(&sym, symbols + i * sizeof sym, sizeof sym);
    functions += wanted(sym);
  }
  pending_.reserve(pending_.size() + functions);
  for (size_t i = 0; i < count; i++) {
    Elf64_Sym sym;
    memcpy(&sym, symbols + i * sizeof sym, sizeof sym);
    if (!wanted(sym)) continue;
    Candidate c;
    c.entry.start = sym.st_value;
    c.entry.size = static_cast<uint32_t>(std::min<uint64_t>(sym.st_size, UINT32_MAX));
    c.entry.name = static_cast<uint32_t>(sym.st_name) | (file_index ? kSecondFile : 0);
    c.preference = binding_rank(sym.st_info) << 60 | file_index << 59 | i;
    pending_.push_back(c);
  }
}

namespace {

// Sorts by start address only: a least-significant-digit radix sort, 11 bits
// per pass, passes only over the bits in which the addresses differ (three
// for a module of up to 8 GB). libLLVM's 35,000 functions took 16 M
// instructions to sort by comparison, a tenth of a short clang run's cost
// under the agent.
void sort_by_start(std::vector<SymbolIndex::Candidate>* candidates) {
  constexpr int kBits = 11;
  constexpr uint64_t kMask = (1u << kBits) - 1;
  if (candidates->size() < 2) return;
  uint64_t differing = 0;
  const uint64_t first = candidates->front().entry.start;
  for (const auto& c : *candidates) differing |= c.entry.start ^ first;
  std::vector<SymbolIndex::Candidate> other(candidates->size());
  std::vector<size_t> counts(kMask + 2);
  for (int shift = 0; shift < 64 && (differing >> shift) != 0; shift += kBits) {
    if (((differing >> shift) & kMask) == 0) continue;
    std::fill(counts.begin(), counts.end(), 0);
    for (const auto& c : *candidates) counts[((c.entry.start >> shift) & kMask) + 1]++;
    for (uint64_t b = 0; b <= kMask; b++) counts[b + 1] += counts[b];
    for (const auto& c : *candidates) other[counts[(c.entry.start >> shift) & kMask]++] = c;
    candidates->swap(other);
  }
}

}  // namespace

void SymbolIndex::finish() {
  sort_by_start(&pending_);
  // One entry per address, the preferred alias of each run of equal starts,
  // into a vector of exactly that size.
  size_t distinct = 0;
  for (size_t i = 0; i < pending_.size(); i++)
    distinct += i == 0 || pending_[i].entry.start != pending_[i - 1].entry.start;
  entries_.clear();
  entries_.reserve(distinct);
  for (size_t i = 0; i < pending_.size();) {
    size_t best = i, next = i + 1;
    for (; next < pending_.size() && pending_[next].entry.start == pending_[i].entry.start; next++)
      if (pending_[next].preference < pending_[best].preference) best = next;
    entries_.push_back(pending_[best].entry);
    i = next;
  }
  std::vector<Candidate>().swap(pending_);
}

std::string_view SymbolIndex::name_of(const Entry& e) const {
  const Strings& s = strings_[(e.name & kSecondFile) ? 1 : 0];
  const uint64_t offset = e.name & ~kSecondFile;
  const char* start = reinterpret_cast<const char*>(s.file->at(s.offset + offset));
  std::string_view name(start, strnlen(start, s.size - offset));
  // Versioned names in a .symtab ("memcpy@@GLIBC_2.14"): the version is not
  // part of the function's name.
  size_t at = name.find('@');
  if (at != std::string_view::npos && at > 0) name = name.substr(0, at);
  return name;
}

std::string_view SymbolIndex::lookup(uint64_t address) const {
  auto after = std::upper_bound(entries_.begin(), entries_.end(), address,
                                [](uint64_t a, const Entry& e) { return a < e.start; });
  for (size_t back = 0; back < kEnclosingLookBack && after != entries_.begin(); back++) {
    --after;
    if (address - after->start < after->size) return name_of(*after);
  }
  return std::string_view();
}

}  // namespace ppagent
