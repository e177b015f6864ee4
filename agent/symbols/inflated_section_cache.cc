#include "symbols/inflated_section_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "symbols/build_id_cache.h"
#include "symbols/section_inflater.h"

namespace ppagent {

namespace {

constexpr char kMagic[8] = {'p', 'p', 'a', 'g', 'z', 'c', '1', '\n'};
// A debug file whose DWARF inflates to more than this (LLVM's own, say) keeps
// being inflated in part, in each process: writing it whole would cost more
// than the few units a profile looks up in it.
constexpr uint64_t kMaxEntryBytes = 256ull << 20;
constexpr size_t kMaxSections = 16;
constexpr size_t kMaxBuildId = 64;

struct EntryHeader {
  char magic[8];
  uint64_t file_size;   // of the debug file the entry was made from
  uint64_t entry_size;  // of the entry: a shorter file was cut off
  uint32_t build_id_size;
  uint32_t section_count;
  uint8_t build_id[kMaxBuildId];
  struct Section {
    int64_t id;
    uint64_t size, stream_size, offset;
  } sections[kMaxSections];
};

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// The header an entry for these sections must have, byte for byte (it is
// zeroed first, so that padding compares equal too).
bool expected_header(const std::string& build_id, uint64_t file_size,
                     const std::vector<SectionToInflate>& sections, EntryHeader* header) {
  if (build_id.empty() || build_id.size() > kMaxBuildId || sections.empty() ||
      sections.size() > kMaxSections)
    return false;
  memset(header, 0, sizeof *header);
  memcpy(header->magic, kMagic, sizeof kMagic);
  header->file_size = file_size;
  header->build_id_size = static_cast<uint32_t>(build_id.size());
  memcpy(header->build_id, build_id.data(), build_id.size());
  header->section_count = static_cast<uint32_t>(sections.size());
  uint64_t at = round_up(sizeof(EntryHeader), page_size());
  for (size_t i = 0; i < sections.size(); i++) {
    const SectionToInflate& s = sections[i];
    if (s.size == 0 || s.size > kMaxEntryBytes) return false;
    header->sections[i] = {s.id, s.size, s.stream_size, at};
    at += round_up(s.size, page_size());
  }
  header->entry_size = at;
  return at <= kMaxEntryBytes;
}

// The targets back to plain memory after a mapping over them failed part way.
void restore_targets(const std::vector<SectionToInflate>& sections) {
  for (const SectionToInflate& s : sections)
    mmap(s.target, round_up(s.size, page_size()), PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
}

enum class Mapping { kDone, kNotThere, kTargetsLost };

// Maps the entry at `path` over the targets, if it is the one expected.
Mapping map_entry(const std::string& path, const EntryHeader& expected,
                  const std::vector<SectionToInflate>& sections) {
  uint64_t size = 0;
  int fd = open_build_id_cache_entry(path, &expected, sizeof expected, &size);
  if (fd < 0) return Mapping::kNotThere;
  if (size != expected.entry_size) {
    close(fd);
    return Mapping::kNotThere;
  }
  bool mapped = true;
  for (size_t i = 0; mapped && i < sections.size(); i++) {
    const SectionToInflate& s = sections[i];
    mapped = mmap(s.target, s.size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
                  static_cast<off_t>(expected.sections[i].offset)) == s.target;
  }
  close(fd);
  if (mapped) return Mapping::kDone;
  restore_targets(sections);  // a failed MAP_FIXED may leave a hole behind
  return Mapping::kTargetsLost;
}

// Inflates every section whole into its target and writes the entry.
// Returns whether the targets hold the sections whole (even when the entry
// could not be written); *written: whether it was.
bool inflate_and_write(const std::string& path, const EntryHeader& header,
                       const std::vector<SectionToInflate>& sections, bool* written) {
  *written = false;
  BuildIdCacheWriter writer(path);
  // Nothing inflated yet: the caller's partial inflation is then cheaper.
  if (!writer.begin()) return false;
  for (const SectionToInflate& s : sections) {
    SectionInflater inflater;
    if (!inflater.start(s.stream, s.stream_size, s.target, s.size) || !inflater.inflate_to(s.size) ||
        inflater.done() != s.size)
      return false;
  }
  bool ok = writer.write(&header, sizeof header, 0);
  for (size_t i = 0; ok && i < sections.size(); i++)
    ok = writer.write(sections[i].target, sections[i].size, header.sections[i].offset);
  *written = ok && writer.commit(header.entry_size);
  return true;
}

}  // namespace

bool map_inflated_sections(const std::string& build_id, uint64_t file_size,
                           const std::vector<SectionToInflate>& sections) {
  for (const SectionToInflate& s : sections)
    if (reinterpret_cast<uintptr_t>(s.target) % page_size() != 0) return false;
  EntryHeader header;
  if (!expected_header(build_id, file_size, sections, &header)) return false;
  const std::string path = build_id_cache_path(build_id, ".dwarf");
  if (path.empty()) return false;
  const Mapping cached = map_entry(path, header, sections);
  if (cached != Mapping::kNotThere) return cached == Mapping::kDone;
  bool written = false;
  if (!inflate_and_write(path, header, sections, &written)) return false;
  // Mapped from the entry, the inflated pages of this process are given back
  // and what later lookups read comes from the page cache all processes share.
  return !written || map_entry(path, header, sections) != Mapping::kTargetsLost;
}

}  // namespace ppagent
