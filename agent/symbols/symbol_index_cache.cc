#include "symbols/symbol_index_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "symbols/build_id_cache.h"

namespace ppagent {

namespace {

constexpr char kMagic[8] = {'p', 'p', 'a', 'g', 's', 'y', '1', '\n'};
// Symbols in the tables (functions or not) below which an index is built in
// each process: a few hundred microseconds, less than a cache file costs.
constexpr uint64_t kMinSymbolsToCache = 4096;
constexpr size_t kMaxBuildId = 64;

struct EntryHeader {
  char magic[8];
  uint32_t table_count;
  uint32_t build_id_size[2];
  uint8_t build_id[2][kMaxBuildId];
  struct Table {
    uint64_t file_size, symbols_offset, symbols_size, strings_offset, strings_size;
  } tables[2];
  // Not known to a reader: the header is compared up to here.
  uint64_t count;
};
constexpr size_t kComparedBytes = offsetof(EntryHeader, count);
constexpr uint64_t kEntriesOffset = (sizeof(EntryHeader) + 63) / 64 * 64;

// The header the entry for `tables` must have, byte for byte up to `count`
// (zeroed first, so that padding compares equal too).
bool expected_header(const std::vector<SymbolIndex::Table>& tables, EntryHeader* header) {
  if (tables.empty() || tables.size() > 2) return false;
  uint64_t symbols = 0;
  for (const SymbolIndex::Table& t : tables) symbols += t.symbols_size / sizeof(Elf64_Sym);
  if (symbols < kMinSymbolsToCache) return false;
  memset(header, 0, sizeof *header);
  memcpy(header->magic, kMagic, sizeof kMagic);
  header->table_count = static_cast<uint32_t>(tables.size());
  for (size_t i = 0; i < tables.size(); i++) {
    const SymbolIndex::Table& t = tables[i];
    const std::string& id = t.file->build_id();
    if (id.size() > kMaxBuildId || (i == 0 && id.empty())) return false;
    header->build_id_size[i] = static_cast<uint32_t>(id.size());
    memcpy(header->build_id[i], id.data(), id.size());
    header->tables[i] = {t.file->size(), t.symbols_offset, t.symbols_size, t.strings_offset,
                         t.strings_size};
  }
  return true;
}

}  // namespace

bool map_cached_symbol_entries(const std::vector<SymbolIndex::Table>& tables,
                               MappedSymbolEntries* mapped) {
  EntryHeader header;
  if (!expected_header(tables, &header)) return false;
  const std::string path = build_id_cache_path(tables[0].file->build_id(), ".symbols");
  if (path.empty()) return false;
  uint64_t size = 0;
  const int fd = open_build_id_cache_entry(path, &header, kComparedBytes, &size);
  if (fd < 0) return false;
  uint64_t count = 0;
  void* mapping = MAP_FAILED;
  if (size >= kEntriesOffset &&
      pread(fd, &count, sizeof count, offsetof(EntryHeader, count)) == sizeof count &&
      count <= (size - kEntriesOffset) / sizeof(SymbolIndex::Entry) &&
      size == kEntriesOffset + count * sizeof(SymbolIndex::Entry))
    mapping = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (mapping == MAP_FAILED) return false;
  mapped->mapping = mapping;
  mapped->mapping_size = size;
  mapped->count = count;
  mapped->entries =
      reinterpret_cast<const SymbolIndex::Entry*>(static_cast<const uint8_t*>(mapping) + kEntriesOffset);
  return true;
}

void save_symbol_entries(const std::vector<SymbolIndex::Table>& tables,
                         const SymbolIndex::Entry* entries, size_t count) {
  EntryHeader header;
  if (!expected_header(tables, &header)) return;
  const std::string path = build_id_cache_path(tables[0].file->build_id(), ".symbols");
  if (path.empty()) return;
  header.count = count;
  BuildIdCacheWriter writer(path);
  const uint64_t bytes = count * sizeof(SymbolIndex::Entry);
  if (writer.begin() && writer.write(&header, sizeof header, 0) &&
      (bytes == 0 || writer.write(entries, bytes, kEntriesOffset)))
    writer.commit(kEntriesOffset + bytes);
}

}  // namespace ppagent
