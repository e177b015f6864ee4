#include "symbols/unit_frames_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>

#include "symbols/build_id_cache.h"

namespace ppagent {

namespace {

constexpr char kMagic[8] = {'p', 'p', 'a', 'g', 'u', 'f', '1', '\n'};
// Bumped whenever UnitFrames' layout or what it holds changes.
constexpr uint32_t kFormatVersion = 1;

struct EntryHeader {
  FileEntryHeader file;  // the DWARF file
  uint64_t unit_offset;  // in its .debug_info
  // Not known to a reader: the header is compared up to here.
  uint64_t table_size;
};
constexpr size_t kComparedBytes = offsetof(EntryHeader, table_size);
constexpr uint64_t kTableOffset = (sizeof(EntryHeader) + 63) / 64 * 64;

// The header the entry must have, byte for byte up to `table_size` (zeroed
// first, so that padding compares equal too); "" path when there is none.
std::string expected_header(const std::string& build_id, uint64_t file_size, uint64_t unit_offset,
                            EntryHeader* header) {
  memset(header, 0, sizeof *header);
  if (!fill_file_entry_header(kMagic, kFormatVersion, build_id, file_size, &header->file))
    return std::string();
  header->unit_offset = unit_offset;
  char suffix[48];
  snprintf(suffix, sizeof suffix, ".u%llx.frames", static_cast<unsigned long long>(unit_offset));
  return build_id_cache_path(build_id, suffix);
}

}  // namespace

std::unique_ptr<UnitFrames> map_cached_unit_frames(const std::string& build_id, uint64_t file_size,
                                                   uint64_t unit_offset) {
  EntryHeader header;
  const std::string path = expected_header(build_id, file_size, unit_offset, &header);
  if (path.empty()) return nullptr;
  uint64_t size = 0;
  const int fd = open_build_id_cache_entry(path, &header, kComparedBytes, &size);
  if (fd < 0) return nullptr;
  uint64_t table_size = 0;
  void* mapping = MAP_FAILED;
  if (size > kTableOffset &&
      pread(fd, &table_size, sizeof table_size, offsetof(EntryHeader, table_size)) ==
          sizeof table_size &&
      table_size == size - kTableOffset)
    mapping = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (mapping == MAP_FAILED) return nullptr;
  // Entries are replaced by rename, never rewritten in place: the mapping
  // keeps the bytes validated here.
  return UnitFrames::from_bytes(static_cast<const uint8_t*>(mapping) + kTableOffset, table_size,
                                [mapping, size] { munmap(mapping, size); });
}

void save_unit_frames(const std::string& build_id, uint64_t file_size, uint64_t unit_offset,
                      const UnitFrames& table) {
  EntryHeader header;
  const std::string path = expected_header(build_id, file_size, unit_offset, &header);
  if (path.empty()) return;
  header.table_size = table.size();
  BuildIdCacheWriter writer(path);
  if (writer.begin() && writer.write(&header, sizeof header, 0) &&
      writer.write(table.bytes(), table.size(), kTableOffset))
    writer.commit(kTableOffset + table.size());
}

}  // namespace ppagent
