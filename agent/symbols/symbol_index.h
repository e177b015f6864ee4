// The function symbols of one module, sorted by address: names for
// file-relative addresses by binary search.
//
// Built from the module's .symtab when it has one, else its .dynsym, plus the
// .symtab of its separate debug file. Only defined STT_FUNC and STT_GNU_IFUNC
// symbols with a size count; an address outside every symbol's
// [value, value + size) has no name (the symbol before it does not own it).
// An entry is 16 bytes and names stay in the files' string tables, which are
// read only for the names actually looked up. The entries of a large module
// are kept per machine (symbol_index_cache.h): a later process maps them
// instead of reading and sorting the whole symbol table again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "symbols/elf_file.h"

namespace ppagent {

class SymbolIndex {
 public:
  SymbolIndex() = default;
  ~SymbolIndex();
  SymbolIndex(const SymbolIndex&) = delete;
  SymbolIndex& operator=(const SymbolIndex&) = delete;

  // Notes the symbol table of `file` (which must outlive the index); at most
  // two files: the module and its debug file.
  void add(const ElfFile* file);
  // Builds the index from the noted tables, or maps it from the cache; one
  // symbol per address (see the .cc for which).
  void finish();

  // The name of the function holding `address`, without any "@VERSION";
  // empty when no symbol holds it.
  std::string_view lookup(uint64_t address) const;

  size_t size() const { return count_; }

  struct Entry {
    uint64_t start;
    uint32_t size;
    uint32_t name;  // top bit: which table; the rest: offset in its string table
  };
  // Before finish(): the symbols with what decides between aliases.
  struct Candidate {
    Entry entry;
    uint64_t preference;  // lower wins: binding rank, then file, then symbol order
  };
  // Where a file's symbols and their names are.
  struct Table {
    const ElfFile* file;
    uint64_t symbols_offset, symbols_size, strings_offset, strings_size;
  };

 private:
  void collect(size_t table, std::vector<Candidate>* candidates) const;
  std::string_view name_of(const Entry& e) const;

  std::vector<Table> tables_;
  std::vector<Entry> built_;
  const Entry* entries_ = nullptr;  // built_'s, or in the cache entry's mapping
  size_t count_ = 0;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
};

}  // namespace ppagent
