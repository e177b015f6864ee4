#include "symbols/symbol_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "symbols/symbol_index_cache.h"

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

SymbolIndex::~SymbolIndex() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

void SymbolIndex::add(const ElfFile* file) {
  if (tables_.size() >= 2) return;
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
  tables_.push_back({file, table->sh_offset, table->sh_size / sizeof(Elf64_Sym) * sizeof(Elf64_Sym),
                     names.sh_offset, names.sh_size});
}

void SymbolIndex::collect(size_t table_index, std::vector<Candidate>* candidates) const {
  const Table& table = tables_[table_index];
  const ElfFile* file = table.file;
  const size_t count = table.symbols_size / sizeof(Elf64_Sym);
  file->prefault(table.symbols_offset, table.symbols_size);
  const uint8_t* symbols = file->at(table.symbols_offset);
  auto wanted = [&](const Elf64_Sym& sym) {
    const unsigned type = ELF64_ST_TYPE(sym.st_info);
    return (type == STT_FUNC || type == STT_GNU_IFUNC) && sym.st_shndx != SHN_UNDEF &&
           sym.st_size != 0 && sym.st_name != 0 && sym.st_name < table.strings_size &&
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
  candidates->reserve(candidates->size() + functions);
  const uint64_t file_index = table_index;
  for (size_t i = 0; i < count; i++) {
    Elf64_Sym sym;
    memcpy(&sym, symbols + i * sizeof sym, sizeof sym);
    if (!wanted(sym)) continue;
    Candidate c;
    c.entry.start = sym.st_value;
    c.entry.size = static_cast<uint32_t>(std::min<uint64_t>(sym.st_size, UINT32_MAX));
    c.entry.name = static_cast<uint32_t>(sym.st_name) | (file_index ? kSecondFile : 0);
    c.preference = binding_rank(sym.st_info) << 60 | file_index << 59 | i;
    candidates->push_back(c);
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
  MappedSymbolEntries cached;
  if (map_cached_symbol_entries(tables_, &cached)) {
    entries_ = cached.entries;
    count_ = cached.count;
    mapping_ = cached.mapping;
    mapping_size_ = cached.mapping_size;
    return;
  }
  std::vector<Candidate> candidates;
  for (size_t t = 0; t < tables_.size(); t++) collect(t, &candidates);
  sort_by_start(&candidates);
  // One entry per address, the preferred alias of each run of equal starts,
  // into a vector of exactly that size.
  size_t distinct = 0;
  for (size_t i = 0; i < candidates.size(); i++)
    distinct += i == 0 || candidates[i].entry.start != candidates[i - 1].entry.start;
  built_.reserve(distinct);
  for (size_t i = 0; i < candidates.size();) {
    size_t best = i, next = i + 1;
    for (; next < candidates.size() && candidates[next].entry.start == candidates[i].entry.start; next++)
      if (candidates[next].preference < candidates[best].preference) best = next;
    built_.push_back(candidates[best].entry);
    i = next;
  }
  entries_ = built_.data();
  count_ = built_.size();
  save_symbol_entries(tables_, entries_, count_);
}

std::string_view SymbolIndex::name_of(const Entry& e) const {
  const size_t table = (e.name & kSecondFile) ? 1 : 0;
  const uint64_t offset = e.name & ~kSecondFile;
  // Entries mapped from the cache are checked here too: a damaged one names
  // nothing rather than a read outside the table.
  if (table >= tables_.size() || offset >= tables_[table].strings_size) return std::string_view();
  const Table& t = tables_[table];
  const char* start = reinterpret_cast<const char*>(t.file->at(t.strings_offset + offset));
  std::string_view name(start, strnlen(start, t.strings_size - offset));
  // Versioned names in a .symtab ("memcpy@@GLIBC_2.14"): the version is not
  // part of the function's name.
  size_t at = name.find('@');
  if (at != std::string_view::npos && at > 0) name = name.substr(0, at);
  return name;
}

std::string_view SymbolIndex::lookup(uint64_t address) const {
  const Entry* after = std::upper_bound(entries_, entries_ + count_, address,
                                        [](uint64_t a, const Entry& e) { return a < e.start; });
  for (size_t back = 0; back < kEnclosingLookBack && after != entries_; back++) {
    --after;
    if (address - after->start < after->size) return name_of(*after);
  }
  return std::string_view();
}

}  // namespace ppagent
