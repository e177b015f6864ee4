#include "symbols/unit_ranges_cache.h"

#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "symbols/build_id_cache.h"

namespace ppagent {

namespace {

constexpr char kMagic[8] = {'p', 'p', 'a', 'g', 'u', 'r', '1', '\n'};
// Bumped whenever what the ranges hold or how they are read changes.
constexpr uint32_t kFormatVersion = 1;

struct EntryHeader {
  FileEntryHeader file;  // the DWARF file
  // Not known to a reader: the header is compared up to here.
  uint64_t count;
};
constexpr size_t kComparedBytes = offsetof(EntryHeader, count);
constexpr uint64_t kRangesOffset = (sizeof(EntryHeader) + 63) / 64 * 64;

// The header the entry must have, byte for byte up to `count`; "" path when
// there is none.
std::string expected_header(const std::string& build_id, uint64_t file_size, EntryHeader* header) {
  memset(header, 0, sizeof *header);
  if (!fill_file_entry_header(kMagic, kFormatVersion, build_id, file_size, &header->file))
    return std::string();
  return build_id_cache_path(build_id, ".ranges");
}

bool well_formed(const std::vector<UnitRange>& ranges) {
  for (size_t i = 0; i < ranges.size(); i++) {
    if (ranges[i].low >= ranges[i].high) return false;
    if (i > 0 && ranges[i].low < ranges[i - 1].low) return false;
  }
  return true;
}

}  // namespace

bool read_cached_unit_ranges(const std::string& build_id, uint64_t file_size,
                             std::vector<UnitRange>* ranges) {
  EntryHeader header;
  const std::string path = expected_header(build_id, file_size, &header);
  if (path.empty()) return false;
  uint64_t size = 0;
  const int fd = open_build_id_cache_entry(path, &header, kComparedBytes, &size);
  if (fd < 0) return false;
  uint64_t count = 0;
  bool ok = size >= kRangesOffset &&
            pread(fd, &count, sizeof count, offsetof(EntryHeader, count)) == sizeof count &&
            count == (size - kRangesOffset) / sizeof(UnitRange) &&
            size == kRangesOffset + count * sizeof(UnitRange);
  if (ok) {
    ranges->resize(count);
    const size_t bytes = count * sizeof(UnitRange);
    ok = bytes == 0 || pread(fd, ranges->data(), bytes, kRangesOffset) == static_cast<ssize_t>(bytes);
  }
  close(fd);
  if (ok && well_formed(*ranges)) return true;
  ranges->clear();
  return false;
}

void save_unit_ranges(const std::string& build_id, uint64_t file_size,
                      const std::vector<UnitRange>& ranges) {
  EntryHeader header;
  const std::string path = expected_header(build_id, file_size, &header);
  if (path.empty() || !well_formed(ranges)) return;
  header.count = ranges.size();
  BuildIdCacheWriter writer(path);
  const uint64_t bytes = ranges.size() * sizeof(UnitRange);
  if (writer.begin() && writer.write(&header, sizeof header, 0) &&
      (bytes == 0 || writer.write(ranges.data(), bytes, kRangesOffset)))
    writer.commit(kRangesOffset + bytes);
}

}  // namespace ppagent
