// The entries of large symbol indexes, kept per machine in the build-id cache
// (build_id_cache.h) as <build-id>.symbols.
//
// Why: reading a large module's symbol table and sorting it is most of what a
// short process pays for its few samples (libLLVM's 35,000 functions, clang's
// own, python's), and every process of a build pays it again. The entries are
// plain data that depend only on the tables they were read from, so the first
// process writes them and later ones map them: a lookup then touches a few of
// their pages, and none of the symbol table's.
//
// An entry's header names the tables it was built from (each file's build-id
// and size, where its symbols and names lie), so it never serves other files,
// nor the same module once a debug file appeared or went. Small tables are
// indexed in each process: there, opening a cache file costs more than it saves.
#pragma once

#include <cstddef>
#include <vector>

#include "symbols/symbol_index.h"

namespace ppagent {

struct MappedSymbolEntries {
  const SymbolIndex::Entry* entries = nullptr;
  size_t count = 0;
  void* mapping = nullptr;  // to be unmapped with munmap(mapping, mapping_size)
  size_t mapping_size = 0;
};

// The cached entries for `tables`, mapped read-only. False when they are too
// small to cache, the cache is off, or it holds no valid entry for them.
bool map_cached_symbol_entries(const std::vector<SymbolIndex::Table>& tables,
                               MappedSymbolEntries* mapped);

// Writes the entries built from `tables` into the cache, when they are large
// enough to be worth it; failures only lose the cache entry.
void save_symbol_entries(const std::vector<SymbolIndex::Table>& tables,
                         const SymbolIndex::Entry* entries, size_t count);

}  // namespace ppagent
