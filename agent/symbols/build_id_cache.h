// The directory where the agent keeps what it derives from ELF files for
// later processes (PPROF_CACHE_DIR): files named by a GNU build-id and a
// suffix that says what they hold (".dwarf": inflated debug sections,
// ".symbols": a symbol index, ".u<unit offset>.frames": the frames table of
// one DWARF unit, ".ranges": which unit holds which addresses).
//
// Why one place: every entry has the same rules. It is only ever used for the
// file it was made from (its header names that file, and the reader compares
// the header byte for byte); it must be a regular file of the effective
// user's, of exactly the expected size; it is written whole under a temporary
// name and renamed into place, so that concurrent processes never see half of
// one; and the directory, created 0700, must be the user's own and writable
// by nobody else, or others could plant entries the agent would read as its
// own. The directory may be removed at any time.
#pragma once

#include <cstdint>
#include <string>

namespace ppagent {

// The directory; "" turns the cache off. `named_by_user`: the user chose it
// (PPROF_CACHE_DIR), so a directory that cannot be used is reported, once;
// the default one fails silently. Set once at start.
void configure_build_id_cache(const std::string& directory, bool named_by_user);

// The entry for `build_id` (raw bytes) with `suffix`; "" when the cache is
// off or there is no build-id.
std::string build_id_cache_path(const std::string& build_id, const char* suffix);

// Opens the entry at `path` read-only when it is a regular file of the
// effective user's that starts with the `compared` bytes of `header`; *size:
// its size, for the caller to check. -1 otherwise (absent, damaged, made
// from another file).
int open_build_id_cache_entry(const std::string& path, const void* header, size_t compared,
                              uint64_t* size);

// The start of the header of an entry made from one file: what kind of entry
// (an 8-byte magic), its format version, and that file's build-id and size.
// An entry's own fields follow it in the entry's header struct.
struct FileEntryHeader {
  static constexpr size_t kMaxBuildId = 64;
  char magic[8];
  uint32_t version;
  uint32_t build_id_size;
  uint8_t build_id[kMaxBuildId];
  uint64_t file_size;
};
// Entries already written keep their meaning only while this layout stays.
static_assert(sizeof(FileEntryHeader) == 88, "the entries' header layout changed");

// Fills *header for the file with `build_id` (raw bytes) and `file_size`,
// zeroed first so that unused bytes compare equal too. False when the
// build-id cannot be named so (empty, or longer than kMaxBuildId).
bool fill_file_entry_header(const char (&magic)[8], uint32_t version, const std::string& build_id,
                            uint64_t file_size, FileEntryHeader* header);

// Writes one entry: begin(), then write() the pieces at their offsets, then
// commit(). Dropped uncommitted, it leaves nothing behind.
class BuildIdCacheWriter {
 public:
  explicit BuildIdCacheWriter(std::string path) : path_(std::move(path)) {}
  ~BuildIdCacheWriter();
  BuildIdCacheWriter(const BuildIdCacheWriter&) = delete;
  BuildIdCacheWriter& operator=(const BuildIdCacheWriter&) = delete;

  // Makes the directory if needed and a temporary file in it.
  bool begin();
  bool write(const void* data, uint64_t size, uint64_t offset);
  // Gives the entry its final `size` and name.
  bool commit(uint64_t size);

 private:
  std::string path_, temporary_;
  int fd_ = -1;
  bool failed_ = false;
};

}  // namespace ppagent
