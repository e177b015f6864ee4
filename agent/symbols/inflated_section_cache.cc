#include "symbols/inflated_section_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/log.h"
#include "symbols/elf_file.h"
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

// Plain data, set from the agent's constructor, which may run before this
// file's static constructors would have (a std::string here was reset after).
const std::string* g_directory = nullptr;
bool g_named_by_user = false;
std::atomic<bool> g_reported{false};

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

void report(const char* what, int error) {
  if (!g_named_by_user || g_reported.exchange(true)) return;
  log_line("PPROF_CACHE_DIR=\"%s\": cannot %s (%s); compressed debug sections are inflated in "
           "each process instead (name a directory of yours, or off)",
           g_directory->c_str(), what, strerror(error));
}

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

// Makes `path` and its missing parents, mode 0700. The last must then be a
// directory of this user's that no one else may write to: others could
// otherwise put entries there that this process would read as DWARF.
bool ensure_private_directory(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      report("create the directory", errno);
      return false;
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    report("use the directory", errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    report("use the directory", EACCES);
    return false;
  }
  return true;
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
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return Mapping::kNotThere;
  struct stat st;
  EntryHeader header;
  const bool valid = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                     static_cast<uint64_t>(st.st_size) == expected.entry_size &&
                     pread(fd, &header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
                     memcmp(&header, &expected, sizeof header) == 0;
  bool mapped = valid;
  for (size_t i = 0; mapped && i < sections.size(); i++) {
    const SectionToInflate& s = sections[i];
    mapped = mmap(s.target, s.size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
                  static_cast<off_t>(expected.sections[i].offset)) == s.target;
  }
  close(fd);
  if (!valid) return Mapping::kNotThere;
  if (mapped) return Mapping::kDone;
  restore_targets(sections);  // a failed MAP_FIXED may leave a hole behind
  return Mapping::kTargetsLost;
}

bool write_all(int fd, const void* data, uint64_t size, uint64_t offset) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = pwrite(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

// Inflates every section whole into its target and writes the entry.
// Returns whether the targets hold the sections whole (even when the entry
// could not be written); *written: whether it was.
bool inflate_and_write(const std::string& path, const EntryHeader& header,
                       const std::vector<SectionToInflate>& sections, bool* written) {
  *written = false;
  std::string temporary = *g_directory + "/.entry-XXXXXX";
  int fd = mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) {
    report("write in the directory", errno);
    return false;  // nothing inflated yet: the caller's partial inflation is cheaper
  }
  bool whole = true;
  for (const SectionToInflate& s : sections) {
    SectionInflater inflater;
    whole = whole && inflater.start(s.stream, s.stream_size, s.target, s.size) &&
            inflater.inflate_to(s.size) && inflater.done() == s.size;
  }
  bool ok = whole && write_all(fd, &header, sizeof header, 0);
  for (size_t i = 0; ok && i < sections.size(); i++)
    ok = write_all(fd, sections[i].target, sections[i].size, header.sections[i].offset);
  ok = ok && ftruncate(fd, static_cast<off_t>(header.entry_size)) == 0;
  const int error = errno;
  close(fd);
  if (ok && rename(temporary.c_str(), path.c_str()) == 0) {
    *written = true;
  } else {
    if (whole) report("write an entry", ok ? errno : error);
    unlink(temporary.c_str());
  }
  return whole;
}

}  // namespace

void configure_inflated_section_cache(const std::string& directory, bool named_by_user) {
  delete g_directory;
  g_directory = directory.empty() ? nullptr : new std::string(directory);
  g_named_by_user = named_by_user;
}

bool map_inflated_sections(const std::string& build_id, uint64_t file_size,
                           const std::vector<SectionToInflate>& sections) {
  if (g_directory == nullptr) return false;
  for (const SectionToInflate& s : sections)
    if (reinterpret_cast<uintptr_t>(s.target) % page_size() != 0) return false;
  EntryHeader header;
  if (!expected_header(build_id, file_size, sections, &header)) return false;
  const std::string path = *g_directory + "/" + hex_string(build_id) + ".dwarf";
  const Mapping cached = map_entry(path, header, sections);
  if (cached != Mapping::kNotThere) return cached == Mapping::kDone;
  if (!ensure_private_directory(*g_directory)) return false;
  bool written = false;
  if (!inflate_and_write(path, header, sections, &written)) return false;
  // Mapped from the entry, the inflated pages of this process are given back
  // and what later lookups read comes from the page cache all processes share.
  return !written || map_entry(path, header, sections) != Mapping::kTargetsLost;
}

}  // namespace ppagent
