// The function symbols of one module, sorted by address: names for
// file-relative addresses by binary search.
//
// Built from the module's .symtab when it has one, else its .dynsym, plus the
// .symtab of its separate debug file. Only defined STT_FUNC and STT_GNU_IFUNC
// symbols with a size count; an address outside every symbol's
// [value, value + size) has no name (the symbol before it does not own it).
// An entry is 16 bytes and names stay in the files' string tables, which are
// read only for the names actually looked up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "symbols/elf_file.h"

namespace ppagent {

class SymbolIndex {
 public:
  // Adds the symbols of `file` (which must outlive the index); at most two
  // files: the module and its debug file.
  void add(const ElfFile* file);
  // Sorts, and keeps one symbol per address (see the .cc for which).
  void finish();

  // The name of the function holding `address`, without any "@VERSION";
  // empty when no symbol holds it.
  std::string_view lookup(uint64_t address) const;

  size_t size() const { return entries_.size(); }

  struct Entry {
    uint64_t start;
    uint32_t size;
    uint32_t name;  // top bit: which file; the rest: offset in its string table
  };
  // Before finish(): the symbols with what decides between aliases.
  struct Candidate {
    Entry entry;
    uint64_t preference;  // lower wins: binding rank, then file, then symbol order
  };

 private:
  struct Strings {
    const ElfFile* file;
    uint64_t offset, size;  // of the string table in the file
  };
  std::string_view name_of(const Entry& e) const;

  std::vector<Entry> entries_;
  std::vector<Strings> strings_;
  std::vector<Candidate> pending_;
};

}  // namespace ppagent
