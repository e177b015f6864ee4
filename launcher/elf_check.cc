#include "elf_check.h"

#include <elf.h>
#include <endian.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace ppagent {
namespace {

// Closes the file descriptor when it goes out of scope.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

bool read_exact(int fd, void* buf, size_t size, off_t offset) {
  return pread(fd, buf, size, offset) == static_cast<ssize_t>(size);
}

// The dynamic loader, which runs LD_PRELOAD, is only started for an ELF file that
// names it in PT_INTERP. Without one the kernel jumps straight into the program:
// that covers both plain static executables and static-pie (which does have
// PT_DYNAMIC, for self-relocation, but no PT_INTERP).
template <typename Ehdr, typename Phdr>
ProgramKind classify_elf(int fd) {
  Ehdr header;
  if (!read_exact(fd, &header, sizeof header, 0)) return ProgramKind::kOther;
  if (header.e_type != ET_EXEC && header.e_type != ET_DYN) return ProgramKind::kOther;
  // PN_XNUM (more headers than fit in e_phnum) or a header size we do not know:
  // not worth guessing, exec will sort it out.
  if (header.e_phentsize != sizeof(Phdr) || header.e_phnum == PN_XNUM) return ProgramKind::kOther;
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Phdr program_header;
    if (!read_exact(fd, &program_header, sizeof program_header,
                    static_cast<off_t>(header.e_phoff + i * sizeof(Phdr)))) {
      return ProgramKind::kOther;
    }
    if (program_header.p_type == PT_INTERP) return ProgramKind::kOther;
  }
  return ProgramKind::kStaticElf;
}

}  // namespace

ProgramKind classify_program(const char* path) {
  Fd file{open(path, O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return ProgramKind::kOther;  // e.g. execute-only: exec may still work

  unsigned char ident[EI_NIDENT];
  if (!read_exact(file.fd, ident, sizeof ident, 0)) return ProgramKind::kOther;
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) return ProgramKind::kOther;  // "#!" scripts too

  // A foreign byte order cannot run here natively anyway; leave it to exec.
  const unsigned char native_data = __BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB;
  if (ident[EI_DATA] != native_data) return ProgramKind::kOther;

  switch (ident[EI_CLASS]) {
    case ELFCLASS64: return classify_elf<Elf64_Ehdr, Elf64_Phdr>(file.fd);
    case ELFCLASS32: return classify_elf<Elf32_Ehdr, Elf32_Phdr>(file.fd);
    default: return ProgramKind::kOther;
  }
}

}  // namespace ppagent
