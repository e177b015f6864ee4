#include "symbols/elf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <tuple>

namespace ppagent {

namespace {

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// The descriptor of a GNU build-id note inside [data, data + size), or "".
std::string_view build_id_in_notes(const uint8_t* data, size_t size) {
  size_t at = 0;
  while (size - at >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr note;
    memcpy(&note, data + at, sizeof note);
    at += sizeof note;
    size_t name_size = round_up(note.n_namesz, 4), desc_size = round_up(note.n_descsz, 4);
    if (name_size > size - at || desc_size > size - at - name_size) break;
    if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
        memcmp(data + at, "GNU", 4) == 0 && note.n_descsz > 0)
      return std::string_view(reinterpret_cast<const char*>(data + at + name_size), note.n_descsz);
    at += name_size + desc_size;
  }
  return std::string_view();
}

}  // namespace

FileIdentity FileIdentity::of(const struct stat& st) {
  FileIdentity id;
  id.device = st.st_dev;
  id.inode = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

bool FileIdentity::operator<(const FileIdentity& o) const {
  return std::tie(device, inode, size, mtime_ns) < std::tie(o.device, o.inode, o.size, o.mtime_ns);
}

std::string hex_string(std::string_view bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 15]);
  }
  return hex;
}

std::unique_ptr<ElfFile> ElfFile::open(const std::string& path, const FileIdentity* expected) {
  // O_NONBLOCK: a FIFO where a debug file was looked for must not hang the
  // writer (it is then refused as no regular file).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return nullptr;
  std::unique_ptr<ElfFile> file(new ElfFile);
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<size_t>(st.st_size) >= sizeof(Elf64_Ehdr);
  if (ok) {
    file->identity_ = FileIdentity::of(st);
    ok = expected == nullptr || *expected == file->identity_;
  }
  if (ok) {
    file->size_ = static_cast<size_t>(st.st_size);
    void* map = mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ok = map != MAP_FAILED;
    if (ok) {
      file->mapping_ = static_cast<uint8_t*>(map);
      file->mapping_size_ = file->size_;
      file->base_ = file->mapping_;
      ok = file->parse();
    }
  }
  // Room for the DWARF image right after the file: reserved now (address
  // space only), the file mapped again at its start, the first mapping
  // dropped. Without room the file is still good for its symbols.
  size_t room = ok ? dwarf_image_room(*file) : 0;
  if (room > 0) {
    size_t file_pages = round_up(file->size_, page_size());
    void* block = mmap(nullptr, file_pages + room, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (block != MAP_FAILED &&
        mmap(block, file->size_, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == block) {
      munmap(file->mapping_, file->mapping_size_);
      file->mapping_ = static_cast<uint8_t*>(block);
      file->mapping_size_ = file_pages + room;
      file->base_ = file->mapping_;
      file->image_offset_ = file_pages;
      file->image_room_ = room;
    } else if (block != MAP_FAILED) {
      munmap(block, file_pages + room);
    }
  }
  close(fd);
  return ok ? std::move(file) : nullptr;
}

std::unique_ptr<ElfFile> ElfFile::in_memory(const uint8_t* image, size_t size) {
  if (image == nullptr || size < sizeof(Elf64_Ehdr)) return nullptr;
  std::unique_ptr<ElfFile> file(new ElfFile);
  file->base_ = image;
  file->size_ = size;
  file->identity_.size = static_cast<int64_t>(size);
  if (!file->parse()) return nullptr;
  return file;
}

ElfFile::~ElfFile() {
  if (mapping_) munmap(mapping_, mapping_size_);
}

bool ElfFile::parse() {
  memcpy(&header_, base_, sizeof header_);
  const unsigned char* ident = header_.e_ident;
  if (memcmp(ident, ELFMAG, SELFMAG) != 0 || ident[EI_CLASS] != ELFCLASS64 ||
      ident[EI_DATA] != (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB))
    return false;

  if (header_.e_phoff != 0 && header_.e_phentsize == sizeof(Elf64_Phdr) &&
      contains(header_.e_phoff, uint64_t{header_.e_phnum} * sizeof(Elf64_Phdr))) {
    program_headers_.resize(header_.e_phnum);
    memcpy(program_headers_.data(), at(header_.e_phoff), header_.e_phnum * sizeof(Elf64_Phdr));
  }

  if (header_.e_shoff != 0 && header_.e_shentsize == sizeof(Elf64_Shdr) &&
      contains(header_.e_shoff, sizeof(Elf64_Shdr))) {
    Elf64_Shdr first;
    memcpy(&first, at(header_.e_shoff), sizeof first);
    // More than SHN_LORESERVE sections: the count and the name table's index
    // are kept in section 0.
    uint64_t count = header_.e_shnum != 0 ? header_.e_shnum : first.sh_size;
    uint64_t names = header_.e_shstrndx != SHN_XINDEX ? header_.e_shstrndx : first.sh_link;
    if (contains(header_.e_shoff, count * sizeof(Elf64_Shdr))) {
      sections_.resize(count);
      memcpy(sections_.data(), at(header_.e_shoff), count * sizeof(Elf64_Shdr));
      if (names < count && sections_[names].sh_type == SHT_STRTAB &&
          contains(sections_[names].sh_offset, sections_[names].sh_size))
        names_ = &sections_[names];
    }
  }
  build_id_ = read_build_id();
  return true;
}

void ElfFile::prefault(uint64_t offset, uint64_t length) const {
  if (mapping_ == nullptr || !contains(offset, length) || length == 0) return;
  const uintptr_t start = reinterpret_cast<uintptr_t>(at(offset)) & ~(page_size() - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(at(offset)) + length;
  madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_READ);  // best effort (Linux 5.14+)
}

// A read fault in a mapped file maps up to 16 neighbouring pages that the
// page cache holds ("fault-around"), and every one counts in the process's
// resident set: a few thousand scattered reads of a symbol table or of DWARF
// (libc's debug file is 4 MB) left megabytes resident in every profiled
// process at its exit, on top of the program's own peak. Nothing here was
// written but the first page, so dropping the rest loses nothing.
void ElfFile::release_read_pages() const {
  if (mapping_ == nullptr || size_ <= page_size()) return;
  madvise(mapping_ + page_size(), size_ - page_size(), MADV_DONTNEED);
}

std::string_view ElfFile::section_name(size_t index) const {
  if (names_ == nullptr || index >= sections_.size()) return std::string_view();
  uint64_t name = sections_[index].sh_name;
  if (name >= names_->sh_size) return std::string_view();
  const char* start = reinterpret_cast<const char*>(at(names_->sh_offset + name));
  return std::string_view(start, strnlen(start, names_->sh_size - name));
}

const Elf64_Shdr* ElfFile::find_section(std::string_view name) const {
  for (size_t i = 0; i < sections_.size(); i++)
    if (sections_[i].sh_type != SHT_NOBITS && section_name(i) == name) return &sections_[i];
  return nullptr;
}

std::string_view ElfFile::section_data(const Elf64_Shdr& section) const {
  if (section.sh_type == SHT_NOBITS || !contains(section.sh_offset, section.sh_size))
    return std::string_view();
  return std::string_view(reinterpret_cast<const char*>(at(section.sh_offset)), section.sh_size);
}

// Notes are read from the sections (a separate debug file keeps them there)
// or else from the PT_NOTE segments (the vDSO, files without section headers).
std::string ElfFile::read_build_id() const {
  for (const Elf64_Shdr& s : sections_) {
    if (s.sh_type != SHT_NOTE) continue;
    std::string_view data = section_data(s);
    std::string_view id = build_id_in_notes(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    if (!id.empty()) return std::string(id);
  }
  for (const Elf64_Phdr& p : program_headers_) {
    if (p.p_type != PT_NOTE || !contains(p.p_offset, p.p_filesz)) continue;
    std::string_view id = build_id_in_notes(at(p.p_offset), p.p_filesz);
    if (!id.empty()) return std::string(id);
  }
  return std::string();
}

bool ElfFile::debuglink(std::string* name, uint32_t* crc) const {
  const Elf64_Shdr* s = find_section(".gnu_debuglink");
  if (s == nullptr) return false;
  std::string_view data = section_data(*s);
  size_t length = strnlen(data.data(), data.size());
  size_t crc_at = round_up(length + 1, 4);
  if (length == 0 || crc_at + 4 > data.size()) return false;
  name->assign(data.data(), length);
  memcpy(crc, data.data() + crc_at, 4);  // in the file's byte order, which is ours
  return true;
}

bool ElfFile::has_dwarf() const {
  return find_section(".debug_info") != nullptr || find_section(".zdebug_info") != nullptr;
}

}  // namespace ppagent
