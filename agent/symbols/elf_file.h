// A read-only view of one ELF file of this process (or of the vDSO, which is
// only in memory): section and program headers, GNU build-id and debuglink.
//
// The file is mapped once and its descriptor closed at once: the agent keeps
// no descriptor that the program could close, or find reused under it. Room
// for the DWARF image (dwarf_image.h) is reserved right after the mapping,
// inaccessible until used, so that image and file form one block of memory.
#pragma once

#include <elf.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ppagent {

// What makes a file the same file: when any of these changed, what was read
// from it no longer holds.
struct FileIdentity {
  uint64_t device = 0, inode = 0;
  int64_t size = 0, mtime_ns = 0;

  static FileIdentity of(const struct stat& st);
  bool operator==(const FileIdentity& o) const {
    return device == o.device && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileIdentity& o) const { return !(*this == o); }
  bool operator<(const FileIdentity& o) const;
};

class ElfFile {
 public:
  // Maps `path` (a 64-bit ELF file of this machine's byte order), with the
  // room for its DWARF image when it has DWARF. nullptr when it cannot be
  // opened, is no such file, or is no longer `expected` (when given).
  static std::unique_ptr<ElfFile> open(const std::string& path, const FileIdentity* expected);
  // An ELF image already in memory (the vDSO); not copied, never unmapped.
  static std::unique_ptr<ElfFile> in_memory(const uint8_t* image, size_t size);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const FileIdentity& identity() const { return identity_; }
  const Elf64_Ehdr& header() const { return header_; }  // as read, before any image patch
  size_t size() const { return size_; }

  // Whether [offset, offset + length) lies inside the file.
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }
  const uint8_t* at(uint64_t offset) const { return base_ + offset; }
  // About to read [offset, offset + length) whole: its pages mapped in one
  // call rather than one fault each (page faults are dear on these VMs).
  void prefault(uint64_t offset, uint64_t length) const;
  // Lets go of the file's pages this process has touched, except the first
  // (which DwarfImage patches: a private copy). They are the page cache's,
  // unchanged, and come back on the next read (see the .cc for why).
  void release_read_pages() const;

  size_t section_count() const { return sections_.size(); }
  const Elf64_Shdr& section(size_t index) const { return sections_[index]; }
  std::string_view section_name(size_t index) const;
  // The first section named `name` that has contents in the file, or nullptr.
  const Elf64_Shdr* find_section(std::string_view name) const;
  // The contents of a section, empty when it has none in the file.
  std::string_view section_data(const Elf64_Shdr& section) const;
  const std::vector<Elf64_Phdr>& program_headers() const { return program_headers_; }

  // The GNU build-id's bytes, empty when the file has none. Read once.
  const std::string& build_id() const { return build_id_; }
  // The .gnu_debuglink section: the debug file's name and its CRC-32.
  bool debuglink(std::string* name, uint32_t* crc) const;
  // Whether the file has its own DWARF (.debug_info, maybe compressed).
  bool has_dwarf() const;

  // The room reserved after the file for its DWARF image (0 when none),
  // starting at at(image_offset()); mapped PROT_NONE until the image uses it.
  uint64_t image_offset() const { return image_offset_; }
  size_t image_room() const { return image_room_; }
  uint8_t* writable(uint64_t offset) { return mapping_ + offset; }

 private:
  ElfFile() = default;
  bool parse();
  std::string read_build_id() const;

  uint8_t* mapping_ = nullptr;  // what we mapped (nullptr for an in-memory image)
  size_t mapping_size_ = 0;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  FileIdentity identity_;
  Elf64_Ehdr header_{};
  std::vector<Elf64_Shdr> sections_;
  const Elf64_Shdr* names_ = nullptr;  // the section-name string table
  std::vector<Elf64_Phdr> program_headers_;
  std::string build_id_;
  uint64_t image_offset_ = 0;
  size_t image_room_ = 0;
};

// The size the DWARF image of `file` needs after the file (see dwarf_image.h),
// 0 when the file has no DWARF. Declared here: open() reserves it.
size_t dwarf_image_room(const ElfFile& file);

std::string hex_string(std::string_view bytes);

}  // namespace ppagent
