// The symbolizer on library files laid out as on real systems (built by
// tests/meson.build from tests/symbols/): stripped to .dynsym, with a separate
// debug file found by build-id (under a debug root of the test's own) or by
// debuglink (with its CRC checked), deleted after loading, and replaced on
// disk between two loads.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "symbols/elf_file.h"
#include "symbols/symbolizer.h"

namespace ppagent {
namespace {

const std::string kFiles = PPAGENT_TEST_FILES;

struct SymtestPc {
  uintptr_t pc;
  int line;
};

// A scratch directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    char pattern[] = "/tmp/ppagent-symbols-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~ScratchDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  ASSERT_TRUE(in && out) << from << " -> " << to;
}

void make_dirs(const std::string& path) {
  ASSERT_EQ(std::system(("mkdir -p '" + path + "'").c_str()), 0);
}

// A library copied to `dir` and loaded from there; unloaded at the end.
class LoadedLibrary {
 public:
  LoadedLibrary(const std::string& path) : path_(path), handle_(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {}
  ~LoadedLibrary() { close(); }
  void close() {
    if (handle_) dlclose(handle_);
    handle_ = nullptr;
  }
  bool ok() const { return handle_ != nullptr; }
  template <typename F>
  F function(const char* name) const {
    return reinterpret_cast<F>(dlsym(handle_, name));
  }
  SymtestPc exported() const { return function<SymtestPc (*)()>("symtest_exported_function")(); }
  SymtestPc hidden() const { return function<SymtestPc (*)()>("symtest_static_pc")(); }
  // The build-id as loaded in memory (not read by the code under test).
  std::string build_id_hex() const {
    struct Find {
      std::string path, id;
    } find{path_, ""};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
          auto* f = static_cast<Find*>(data);
          if (f->path != info->dlpi_name) return 0;
          for (int i = 0; i < info->dlpi_phnum; i++) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_NOTE) continue;
            auto* p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
            const uint8_t* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const uint8_t* desc = p + sizeof *note + ((note->n_namesz + 3) & ~3u);
              if (note->n_type == NT_GNU_BUILD_ID)
                f->id = hex_string(std::string_view(reinterpret_cast<const char*>(desc), note->n_descsz));
              p = desc + ((note->n_descsz + 3) & ~3u);
            }
          }
          return 1;
        },
        &find);
    return find.id;
  }

 private:
  std::string path_;
  void* handle_;
};

std::string function_at(Symbolizer* sym, uintptr_t pc) {
  std::vector<SourceFrame> frames = sym->frames(pc);
  return frames.empty() ? std::string() : frames.back().system_name;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Checks that `pc` resolves to `function` in symtest_lib.c, at its line.
void expect_source(Symbolizer* sym, SymtestPc pc, const std::string& function) {
  std::vector<SourceFrame> frames = sym->frames(pc.pc);
  ASSERT_FALSE(frames.empty()) << function;
  EXPECT_EQ(frames.back().system_name, function);
  EXPECT_TRUE(ends_with(frames.back().file, "/tests/symbols/symtest_lib.c")) << frames.back().file;
  // The instruction after the one that took the pc: its own line or the
  // function's next ones.
  EXPECT_GE(frames.back().line, pc.line);
  EXPECT_LE(frames.back().line, pc.line + 2);
}

TEST(SymbolFiles, DynsymOnlyLibraryNamesItsExportsAndNothingElse) {
  ScratchDir dir;
  copy_file(kFiles + "/libsymtest_dynsym.so", dir.path() + "/libsymtest_dynsym.so");
  LoadedLibrary lib(dir.path() + "/libsymtest_dynsym.so");
  ASSERT_TRUE(lib.ok()) << dlerror();
  Symbolizer sym(dir.path() + "/no-debug-root");
  std::vector<SourceFrame> exported = sym.frames(lib.exported().pc);
  ASSERT_EQ(exported.size(), 1u);
  EXPECT_EQ(exported[0].system_name, "symtest_exported_function");
  EXPECT_EQ(exported[0].file, "");  // no DWARF anywhere
  // The static function is only in the .symtab that was stripped: the
  // exported function before it in the file must not take its address.
  EXPECT_EQ(function_at(&sym, lib.hidden().pc), "");
}

TEST(SymbolFiles, DebugFileFoundByBuildIdUnderTheDebugRoot) {
  ScratchDir dir;
  copy_file(kFiles + "/libsymtest_dynsym.so", dir.path() + "/libsymtest_dynsym.so");
  LoadedLibrary lib(dir.path() + "/libsymtest_dynsym.so");
  ASSERT_TRUE(lib.ok()) << dlerror();
  const std::string id = lib.build_id_hex();
  ASSERT_GE(id.size(), 4u);
  // Compressed as ELF says (SHF_COMPRESSED), and in the older GNU way (.zdebug_*).
  for (const char* debug_file : {"libsymtest.debug", "libsymtest_gnu.debug"}) {
    const std::string root = dir.path() + "/" + debug_file + ".root";
    make_dirs(root + "/.build-id/" + id.substr(0, 2));
    copy_file(kFiles + "/" + debug_file,
              root + "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug");
    Symbolizer sym(root);
    expect_source(&sym, lib.hidden(), "symtest_static_function");
    expect_source(&sym, lib.exported(), "symtest_exported_function");
  }
}

TEST(SymbolFiles, DebugFileFoundByDebuglinkNextToTheLibraryAndInDotDebug) {
  for (const char* subdir : {"", "/.debug"}) {
    ScratchDir dir;
    copy_file(kFiles + "/libsymtest_linked.so", dir.path() + "/libsymtest_linked.so");
    make_dirs(dir.path() + subdir);
    copy_file(kFiles + "/libsymtest.debug", dir.path() + subdir + "/libsymtest.debug");
    LoadedLibrary lib(dir.path() + "/libsymtest_linked.so");
    ASSERT_TRUE(lib.ok()) << dlerror();
    Symbolizer sym(dir.path() + "/no-debug-root");
    expect_source(&sym, lib.hidden(), "symtest_static_function");
  }
}

TEST(SymbolFiles, DebuglinkCrcDecidesWithoutBuildIds) {
  // Built without a build-id: only the CRC says whether the debug file is
  // the one the link names.
  for (bool corrupt : {false, true}) {
    ScratchDir dir;
    copy_file(kFiles + "/libsymtest_noid_linked.so", dir.path() + "/libsymtest_noid_linked.so");
    copy_file(kFiles + "/libsymtest_noid.debug", dir.path() + "/libsymtest_noid.debug");
    if (corrupt) {
      std::ofstream out(dir.path() + "/libsymtest_noid.debug", std::ios::binary | std::ios::app);
      out << "another build";
    }
    LoadedLibrary lib(dir.path() + "/libsymtest_noid_linked.so");
    ASSERT_TRUE(lib.ok()) << dlerror();
    ASSERT_EQ(lib.build_id_hex(), "");
    Symbolizer sym(dir.path() + "/no-debug-root");
    if (corrupt) {
      EXPECT_EQ(function_at(&sym, lib.hidden().pc), "") << "debug file with a wrong CRC was used";
      std::vector<SourceFrame> exported = sym.frames(lib.exported().pc);
      ASSERT_EQ(exported.size(), 1u);
      EXPECT_EQ(exported[0].file, "");
    } else {
      expect_source(&sym, lib.hidden(), "symtest_static_function");
    }
  }
}

TEST(SymbolFiles, AFifoWhereTheDebugFileWouldBeIsSkippedNotWaitedOn) {
  ScratchDir dir;
  copy_file(kFiles + "/libsymtest_linked.so", dir.path() + "/libsymtest_linked.so");
  ASSERT_EQ(mkfifo((dir.path() + "/libsymtest.debug").c_str(), 0600), 0);
  LoadedLibrary lib(dir.path() + "/libsymtest_linked.so");
  ASSERT_TRUE(lib.ok()) << dlerror();
  Symbolizer sym(dir.path() + "/no-debug-root");
  alarm(30);  // opening the FIFO for reading would block until a writer comes
  EXPECT_EQ(function_at(&sym, lib.hidden().pc), "");
  EXPECT_EQ(function_at(&sym, lib.exported().pc), "symtest_exported_function");
  alarm(0);
}

TEST(SymbolFiles, DeletedLibraryIsReadThroughItsMapping) {
  ScratchDir dir;
  const std::string path = dir.path() + "/libsymtest.so";
  copy_file(kFiles + "/libsymtest.so", path);
  LoadedLibrary lib(path);
  ASSERT_TRUE(lib.ok()) << dlerror();
  ASSERT_EQ(unlink(path.c_str()), 0);
  const uintptr_t pc = lib.hidden().pc;
  bool shown_deleted = false;
  for (const MapEntry& m : read_executable_mappings())
    if (pc >= m.start && pc < m.limit) shown_deleted = m.deleted && m.path == path;
  ASSERT_TRUE(shown_deleted);
  Symbolizer sym(dir.path() + "/no-debug-root");
  if (geteuid() != 0) {
    // /proc/self/map_files/ can be followed only with CAP_SYS_ADMIN (or
    // CAP_CHECKPOINT_RESTORE): the addresses then stay unnamed.
    EXPECT_EQ(function_at(&sym, pc), "");
    return;
  }
  expect_source(&sym, lib.hidden(), "symtest_static_function");
}

TEST(SymbolFiles, LibraryReplacedOnDiskIsIndexedAgain) {
  ScratchDir dir;
  const std::string path = dir.path() + "/libswap.so";
  Symbolizer sym(dir.path() + "/no-debug-root");

  copy_file(kFiles + "/libswap_a.so", path);
  LoadedLibrary a(path);
  ASSERT_TRUE(a.ok()) << dlerror();
  EXPECT_EQ(function_at(&sym, a.function<uintptr_t (*)()>("swap_pc")()), "swap_alpha_function");
  const SymbolizerCounters before = sym.counters();
  a.close();

  // Rewritten in place: same path, same inode, another size and content.
  struct stat st_a, st_b;
  ASSERT_EQ(stat(path.c_str(), &st_a), 0);
  copy_file(kFiles + "/libswap_b.so", path);
  ASSERT_EQ(stat(path.c_str(), &st_b), 0);
  ASSERT_EQ(st_a.st_ino, st_b.st_ino);
  ASSERT_NE(st_a.st_size, st_b.st_size);

  LoadedLibrary b(path);
  ASSERT_TRUE(b.ok()) << dlerror();
  ASSERT_NE(b.function<void*>("swap_padding_function"), nullptr) << "still version A";
  EXPECT_EQ(function_at(&sym, b.function<uintptr_t (*)()>("swap_pc")()), "swap_beta_function");
  const SymbolizerCounters after = sym.counters();
  EXPECT_EQ(after.files_opened, before.files_opened + 1);
  EXPECT_EQ(after.indexes_built, before.indexes_built + 1);
}

TEST(SymbolFiles, SameLibraryLoadedAgainElsewhereReusesItsIndex) {
  ScratchDir dir;
  const std::string path = dir.path() + "/libswap.so";
  copy_file(kFiles + "/libswap_a.so", path);
  Symbolizer sym(dir.path() + "/no-debug-root");
  uintptr_t first_pc;
  {
    LoadedLibrary a(path);
    ASSERT_TRUE(a.ok()) << dlerror();
    first_pc = a.function<uintptr_t (*)()>("swap_pc")();
    EXPECT_EQ(function_at(&sym, first_pc), "swap_alpha_function");
  }
  // Something else where it was, so that it loads at another address.
  void* blocker = mmap(reinterpret_cast<void*>(first_pc & ~4095ul), 1 << 20, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  const SymbolizerCounters before = sym.counters();
  LoadedLibrary again(path);
  ASSERT_TRUE(again.ok()) << dlerror();
  const uintptr_t pc = again.function<uintptr_t (*)()>("swap_pc")();
  EXPECT_EQ(function_at(&sym, pc), "swap_alpha_function");
  const SymbolizerCounters after = sym.counters();
  EXPECT_EQ(after.files_opened, before.files_opened);
  EXPECT_EQ(after.indexes_built, before.indexes_built);
  // At another address, the same file-relative address: from the cache.
  if (pc != first_pc) {
    EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  }
  if (blocker != MAP_FAILED) munmap(blocker, 1 << 20);
}

}  // namespace
}  // namespace ppagent
