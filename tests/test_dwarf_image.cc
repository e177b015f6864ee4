// The lazily inflated DWARF image on Debian's libc6-dbg debug file for libc
// (compressed, ~10 MB of DWARF): libdw sees only what was inflated, one
// lookup inflates a small part of it, and what lookups return is what the
// fully decompressed file gives. The per-unit frames tables (unit_frames.h),
// built, written to a cache directory and mapped back, give what the walk of
// the whole file gives, and damaged cache entries are rebuilt.
#include <dlfcn.h>
#include <dwarf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "symbols/build_id_cache.h"
#include "symbols/debug_file.h"
#include "symbols/dwarf_frames.h"
#include "symbols/dwarf_image.h"
#include "symbols/elf_file.h"
#include "symbols/section_inflater.h"
#include "symbols/unit_frames.h"
#include "symbols/unit_frames_cache.h"

namespace ppagent {
namespace {

const char kLibc[] = "/lib/x86_64-linux-gnu/libc.so.6";

std::unique_ptr<ElfFile> libc_debug_file() {
  std::unique_ptr<ElfFile> libc = ElfFile::open(kLibc, nullptr);
  if (!libc) return nullptr;
  return find_debug_file(*libc, kLibc, kSystemDebugRoot);
}

// Sum of the uncompressed sizes of the compressed .debug_* sections.
uint64_t compressed_dwarf_size(const ElfFile& file) {
  uint64_t total = 0;
  for (size_t i = 0; i < file.section_count(); i++) {
    const Elf64_Shdr& s = file.section(i);
    if (!(s.sh_flags & SHF_COMPRESSED) || file.section_name(i).substr(0, 7) != ".debug_") continue;
    Elf64_Chdr chdr;
    memcpy(&chdr, file.at(s.sh_offset), sizeof chdr);
    total += chdr.ch_size;
  }
  return total;
}

// File-relative addresses spread over libc's code.
std::vector<uint64_t> libc_code_addresses(size_t count) {
  std::unique_ptr<ElfFile> libc = ElfFile::open(kLibc, nullptr);
  std::vector<uint64_t> out;
  for (const Elf64_Phdr& p : libc->program_headers()) {
    if (p.p_type != PT_LOAD || !(p.p_flags & PF_X)) continue;
    std::mt19937_64 random(7);
    for (size_t i = 0; i < count; i++) out.push_back(p.p_vaddr + random() % p.p_memsz);
  }
  return out;
}

// A copy of `debug` with its DWARF decompressed (objcopy), mapped; the copy's
// file is removed at once (the mapping keeps it until the end). nullptr on failure.
std::unique_ptr<ElfFile> decompressed_copy(const ElfFile& debug) {
  char dir[] = "/tmp/ppagent-dwarf-XXXXXX";
  if (mkdtemp(dir) == nullptr) return nullptr;
  const std::string plain = std::string(dir) + "/libc.debug";
  const std::string id = hex_string(debug.build_id());
  const std::string command = std::string("objcopy --decompress-debug-sections '") +
                              kSystemDebugRoot + "/.build-id/" + id.substr(0, 2) + "/" +
                              id.substr(2) + ".debug' '" + plain + "'";
  std::unique_ptr<ElfFile> file;
  if (std::system(command.c_str()) == 0) file = ElfFile::open(plain, nullptr);
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
  return file;
}

class LibcDebugFile : public ::testing::Test {
 protected:
  void SetUp() override {
    debug_ = libc_debug_file();
    ASSERT_TRUE(debug_) << "no debug file for libc: scripts/install-deps.sh installs libc6-dbg";
    ASSERT_GT(compressed_dwarf_size(*debug_), 5u << 20) << "libc6-dbg's DWARF is compressed";
  }
  std::unique_ptr<ElfFile> debug_;
};

TEST_F(LibcDebugFile, LibdwSeesOnlyTheUnitsInflated) {
  std::unique_ptr<DwarfImage> image = DwarfImage::create(debug_.get());
  ASSERT_TRUE(image);
  Dwarf* dbg = image->dwarf();
  Dwarf_Off next;
  size_t header_size;
  EXPECT_EQ(dwarf_next_unit(dbg, 0, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 1) << "libdw reads .debug_info before it is inflated";
  ASSERT_TRUE(image->ensure_unit(0));
  ASSERT_EQ(dwarf_next_unit(dbg, 0, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 0);
  // The next unit is not shown until asked for, even if inflated in part.
  const Dwarf_Off second = next;
  EXPECT_EQ(dwarf_next_unit(dbg, second, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 1);
  EXPECT_TRUE(image->ensure_unit(second));
  EXPECT_EQ(dwarf_next_unit(dbg, second, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 0);
  EXPECT_FALSE(image->ensure_unit(second + 1)) << "not the start of a unit";
  // A reference into a unit not inflated is refused, not read as zeros.
  Dwarf_Die die;
  EXPECT_EQ(dwarf_offdie(dbg, 4 << 20, &die), nullptr);
}

TEST_F(LibcDebugFile, OneAddressInflatesASmallPartOfTheDwarf) {
  // __libc_start_main's unit (csu/libc-start.c, also the one of
  // __libc_start_call_main, in every profile) is near the start of libc's.
  Dl_info info;
  void* function = dlsym(RTLD_DEFAULT, "__libc_start_main");
  ASSERT_TRUE(function && dladdr(function, &info));
  const uint64_t address = reinterpret_cast<uintptr_t>(function) + 4 -
                           reinterpret_cast<uintptr_t>(info.dli_fbase);
  DwarfFrames frames(debug_.get());
  std::vector<SourceFrame> out;
  ASSERT_TRUE(frames.frames(address, "", &out));
  EXPECT_EQ(out.back().system_name, "__libc_start_main_impl");  // the DIE's name
  EXPECT_NE(out.back().file.find("libc-start.c"), std::string::npos) << out.back().file;
  const uint64_t total = compressed_dwarf_size(*debug_);
  EXPECT_LT(frames.inflated_bytes(), total / 8)
      << frames.inflated_bytes() << " of " << total;
}

TEST_F(LibcDebugFile, LazyLookupsGiveWhatTheDecompressedFileGives) {
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  ASSERT_EQ(compressed_dwarf_size(*plain_file), 0u);

  DwarfFrames lazy(debug_.get());
  DwarfFrames whole(plain_file.get());
  size_t compared = 0, with_lines = 0;
  for (uint64_t address : libc_code_addresses(300)) {
    std::vector<SourceFrame> a, b;
    const bool found_a = lazy.frames(address, "", &a), found_b = whole.frames(address, "", &b);
    ASSERT_EQ(found_a, found_b) << std::hex << address;
    ASSERT_EQ(a.size(), b.size()) << std::hex << address;
    for (size_t i = 0; i < a.size(); i++) {
      EXPECT_EQ(a[i].system_name, b[i].system_name) << std::hex << address;
      EXPECT_EQ(a[i].file, b[i].file) << std::hex << address;
      EXPECT_EQ(a[i].line, b[i].line) << std::hex << address;
      EXPECT_EQ(a[i].start_line, b[i].start_line) << std::hex << address;
    }
    compared++;
    with_lines += !a.empty() && a.back().line > 0;
  }
  EXPECT_EQ(whole.inflated_bytes(), 0u);
  EXPECT_GT(with_lines, compared / 2) << "libc6-dbg covers most of libc's code";
}

// A frame as binutils' addr2line -f -i shows it: function name and line.
// Not the file: binutils 2.40 names the unit's main file for lines in a file
// it includes (getsrvbynm.c for getXXbyYY.c, which it includes) in DWARF 5.
struct ShownFrame {
  std::string function;
  std::string line;
  bool operator==(const ShownFrame& o) const { return function == o.function && line == o.line; }
};

std::ostream& operator<<(std::ostream& out, const ShownFrame& f) {
  return out << f.function << " :" << f.line;
}

// binutils' addr2line on `file` (its own DWARF reader, not libdw): for each
// address, the frames innermost first, down to the function.
std::vector<std::vector<ShownFrame>> addr2line_frames(const std::string& file,
                                                      const std::vector<uint64_t>& addresses) {
  char list[] = "/tmp/ppagent-addr2line-XXXXXX";
  const int fd = mkstemp(list);
  if (fd < 0) return {};
  std::string text;
  char hex[32];
  for (uint64_t a : addresses) {
    snprintf(hex, sizeof hex, "0x%llx\n", static_cast<unsigned long long>(a));
    text += hex;
  }
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return {};
  close(fd);
  const std::string command = "addr2line -a -f -i -e '" + file + "' < " + list;
  FILE* pipe = popen(command.c_str(), "r");
  std::vector<std::vector<ShownFrame>> out;
  char line[4096];
  std::string function;
  bool want_function = true;
  while (pipe != nullptr && fgets(line, sizeof line, pipe) != nullptr) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (l.rfind("0x", 0) == 0 && l.find(':') == std::string::npos) {  // an address: the next one's frames
      out.emplace_back();
      want_function = true;
    } else if (want_function) {
      function = l;
      want_function = false;
    } else {
      // "path/file.c:123" or "path/file.c:123 (discriminator 4)"; "??:0" or "??:?" unknown.
      std::string place = l.substr(0, l.find(' '));
      const size_t colon = place.rfind(':');
      const bool assembly = colon >= 2 && place.compare(colon - 2, 2, ".S") == 0;
      if (function != "??" && !out.empty()) {
        // Assembly has no function DIEs: addr2line picks one of the symbols
        // at the address (memcpy or memmove), the agent its own; not compared.
        if (assembly) out.back().clear();
        else out.back().push_back({function, place.substr(colon + 1)});
      }
      want_function = true;
    }
  }
  if (pipe != nullptr) pclose(pipe);
  unlink(list);
  return out;
}

std::vector<std::vector<ShownFrame>> shown_frames(DwarfFrames& frames,
                                                  const std::vector<uint64_t>& addresses) {
  std::vector<std::vector<ShownFrame>> out;
  for (uint64_t address : addresses) {
    std::vector<SourceFrame> found;
    out.emplace_back();
    if (frames.frames(address, "", &found))
      for (const SourceFrame& f : found) out.back().push_back({f.system_name, std::to_string(f.line)});
  }
  return out;
}

TEST_F(LibcDebugFile, InlinedFramesAreWhatAddr2lineShows) {
  // addr2line reads the system's debug file; the agent reads it through its
  // units' frames tables.
  const std::string id = hex_string(debug_->build_id());
  const std::string debug_path = std::string(kSystemDebugRoot) + "/.build-id/" + id.substr(0, 2) +
                                 "/" + id.substr(2) + ".debug";
  const std::vector<uint64_t> addresses = libc_code_addresses(600);
  const std::vector<std::vector<ShownFrame>> expected = addr2line_frames(debug_path, addresses);
  ASSERT_EQ(expected.size(), addresses.size()) << "addr2line (binutils) did not answer";

  DwarfFrames frames(debug_.get());
  const std::vector<std::vector<ShownFrame>> shown = shown_frames(frames, addresses);
  size_t compared = 0, with_inlined = 0;
  for (size_t i = 0; i < addresses.size(); i++) {
    if (shown[i].empty() || expected[i].empty()) continue;
    EXPECT_EQ(shown[i], expected[i]) << std::hex << addresses[i];
    compared++;
    with_inlined += expected[i].size() > 1;
  }
  EXPECT_GT(compared, 300u);
  EXPECT_GT(with_inlined, 30u) << "libc's code has many inlined calls";
  EXPECT_GT(frames.unit_counts().built, 50u);
  EXPECT_EQ(frames.unit_counts().walked, 0u);
}

TEST_F(LibcDebugFile, AWholeImageShowsLibdwOneUnitAtATime) {
  // Sections whole (here: a decompressed copy, as the cache gives them): a
  // unit far into .debug_info is read through a Dwarf that holds it alone,
  // so libdw does not read the 4,000 unit headers before it.
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  std::unique_ptr<DwarfImage> image = DwarfImage::create(plain_file.get());
  ASSERT_TRUE(image);
  Dwarf* dbg = image->dwarf();
  // The offset of the last unit, walked through the whole image.
  Dwarf_Off offset = 0, next, last = 0;
  size_t header_size;
  while (image->ensure_unit(offset) && dwarf_next_unit(dbg, offset, &next, &header_size, nullptr,
                                                       nullptr, nullptr, nullptr, nullptr,
                                                       nullptr) == 0) {
    last = offset;
    offset = next;
  }
  ASSERT_GT(last, 4u << 20) << "libc's .debug_info holds many units";
  const std::string whole_name = [&] {
    Dwarf_Die cu;
    dwarf_next_unit(dbg, last, &next, &header_size, nullptr, nullptr, nullptr, nullptr, nullptr,
                    nullptr);
    return dwarf_offdie(dbg, last + header_size, &cu) ? std::string(dwarf_diename(&cu)) : "";
  }();

  Dwarf* view = image->unit_view(last);
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(image->unit_view(last), view) << "made once per unit";
  Dwarf_Off view_next;
  ASSERT_EQ(dwarf_next_unit(view, 0, &view_next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 0);
  EXPECT_EQ(view_next, next - last) << "the unit, whole, at offset 0";
  EXPECT_NE(dwarf_next_unit(view, view_next, &next, &header_size, nullptr, nullptr, nullptr,
                            nullptr, nullptr, nullptr), 0) << "and nothing after it";
  Dwarf_Die cu;
  ASSERT_NE(dwarf_offdie(view, header_size, &cu), nullptr);
  EXPECT_EQ(std::string(dwarf_diename(&cu)), whole_name);
}

// Resident KiB of this process's mappings of files whose path contains `part`.
uint64_t resident_kib_of_files(const std::string& part) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool counted = false;
  uint64_t total = 0;
  while (std::getline(smaps, line)) {
    const std::string first = line.substr(0, line.find(' '));
    unsigned long long kib;
    if (first.find('-') != std::string::npos &&
        first.find_first_not_of("0123456789abcdef-") == std::string::npos)
      counted = line.find(part) != std::string::npos;  // a mapping's first line
    else if (counted && sscanf(line.c_str(), "Rss: %llu kB", &kib) == 1)
      total += kib;
  }
  return total;
}

TEST_F(LibcDebugFile, LookupsInManyUnitsLeaveOneUnitsPagesOfTheCacheEntryResident) {
  // Sections mapped from the cache entry (as every process after the first
  // has them): a read there maps up to 16 pages, all of them resident. Pages
  // read for one unit are let go when a lookup moves on to another, so what
  // stays is about one unit's, not what all lookups touched.
  char dir[] = "/tmp/ppagent-dwarf-cache-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  configure_build_id_cache(std::string(dir) + "/cache", true);
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  {
    DwarfFrames cached(debug_.get());
    DwarfFrames whole(plain_file.get());
    const std::vector<uint64_t> addresses = libc_code_addresses(300);
    size_t with_lines = 0;
    for (uint64_t address : addresses) {
      std::vector<SourceFrame> a, b;
      ASSERT_EQ(cached.frames(address, "", &a), whole.frames(address, "", &b)) << std::hex << address;
      ASSERT_EQ(a.size(), b.size()) << std::hex << address;
      for (size_t i = 0; i < a.size(); i++) {
        EXPECT_EQ(a[i].system_name, b[i].system_name) << std::hex << address;
        EXPECT_EQ(a[i].file, b[i].file) << std::hex << address;
        EXPECT_EQ(a[i].line, b[i].line) << std::hex << address;
      }
      with_lines += !a.empty() && a.back().line > 0;
    }
    EXPECT_EQ(cached.inflated_bytes(), 0u) << "the sections came from the cache entry";
    EXPECT_GT(with_lines, addresses.size() / 2);
    const uint64_t entry_kib = compressed_dwarf_size(*debug_) / 1024;
    // The inflated sections' entry only: the units' frames tables are entries too.
    const std::string entry = std::string(dir) + "/cache/" + hex_string(debug_->build_id()) + ".dwarf";
    std::ifstream maps("/proc/self/maps");
    const std::string mapped((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
    EXPECT_NE(mapped.find(entry), std::string::npos) << "the entry is mapped";
    const uint64_t resident_kib = resident_kib_of_files(entry);
    EXPECT_LT(resident_kib, entry_kib / 8) << "of " << entry_kib << " KiB inflated";
  }
  configure_build_id_cache("", false);
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
}

// Resident KiB of this process's memory in [start, start + size): the
// mappings that lie inside it whole.
uint64_t resident_kib_inside(const void* start, size_t size) {
  const uintptr_t low = reinterpret_cast<uintptr_t>(start), high = low + size;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool counted = false;
  uint64_t total = 0;
  while (std::getline(smaps, line)) {
    unsigned long long from, to, kib;
    if (sscanf(line.c_str(), "%llx-%llx ", &from, &to) == 2 && line.find(" kB") == std::string::npos)
      counted = from >= low && to <= high;
    else if (counted && sscanf(line.c_str(), "Rss: %llu kB", &kib) == 1)
      total += kib;
  }
  return total;
}

TEST_F(LibcDebugFile, WithoutCacheUnitsAreViewedAloneAndTheScannedInfoLetGo) {
  // A unit far into .debug_info, looked up with nothing cached: the scan
  // inflates everything before it (for the unit headers), but only the unit
  // stays resident, copied out, and its view reads what the whole image reads.
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  std::unique_ptr<DwarfImage> plain = DwarfImage::create(plain_file.get());
  ASSERT_TRUE(plain);
  Dwarf_Off offset = 0, next, last = 0;
  size_t header_size;
  while (dwarf_next_unit(plain->dwarf(), offset, &next, &header_size, nullptr, nullptr, nullptr,
                         nullptr, nullptr, nullptr) == 0) {
    last = offset;
    offset = next;
  }
  ASSERT_GT(last, 4u << 20);
  Dwarf_Die cu;
  dwarf_next_unit(plain->dwarf(), last, &next, &header_size, nullptr, nullptr, nullptr, nullptr,
                  nullptr, nullptr);
  ASSERT_NE(dwarf_offdie(plain->dwarf(), last + header_size, &cu), nullptr);
  const std::string last_name = dwarf_diename(&cu);

  std::unique_ptr<DwarfImage> lazy = DwarfImage::create(debug_.get());
  ASSERT_TRUE(lazy);
  Dwarf* view = lazy->unit_view(last);
  ASSERT_NE(view, nullptr) << "a view while .debug_info is inflated in part";
  EXPECT_GT(lazy->inflated_bytes(), last) << "the scan inflated everything before the unit";
  const uint8_t* room = debug_->at(debug_->image_offset());
  EXPECT_LT(resident_kib_inside(room, debug_->image_room()), 2048u)
      << "of " << lazy->inflated_bytes() / 1024 << " KiB inflated";
  Dwarf_Off view_next;
  ASSERT_EQ(dwarf_next_unit(view, 0, &view_next, &header_size, nullptr, nullptr, nullptr, nullptr,
                            nullptr, nullptr), 0);
  EXPECT_EQ(view_next, next - last);
  ASSERT_NE(dwarf_offdie(view, header_size, &cu), nullptr);
  EXPECT_EQ(std::string(dwarf_diename(&cu)), last_name);

  // A view of a unit in what was let go: inflated again from the start.
  Dwarf* first_view = lazy->unit_view(0);
  ASSERT_NE(first_view, nullptr);
  Dwarf_Die first_cu;
  ASSERT_EQ(dwarf_next_unit(first_view, 0, &view_next, &header_size, nullptr, nullptr, nullptr,
                            nullptr, nullptr, nullptr), 0);
  ASSERT_NE(dwarf_offdie(first_view, header_size, &first_cu), nullptr);
  ASSERT_EQ(dwarf_next_unit(plain->dwarf(), 0, &next, &header_size, nullptr, nullptr, nullptr,
                            nullptr, nullptr, nullptr), 0);
  Dwarf_Die first_plain_cu;
  ASSERT_NE(dwarf_offdie(plain->dwarf(), header_size, &first_plain_cu), nullptr);
  EXPECT_EQ(std::string(dwarf_diename(&first_cu)), dwarf_diename(&first_plain_cu));
  EXPECT_LT(resident_kib_inside(room, debug_->image_room()), 2048u) << "and let go again";

  // The whole image asked for the first unit afterwards: what was let go is
  // inflated again, and libdw reads it as it was.
  ASSERT_TRUE(lazy->ensure_unit(0));
  Dwarf_Die first_lazy, first_plain;
  ASSERT_EQ(dwarf_next_unit(lazy->dwarf(), 0, &next, &header_size, nullptr, nullptr, nullptr,
                            nullptr, nullptr, nullptr), 0);
  ASSERT_NE(dwarf_offdie(lazy->dwarf(), header_size, &first_lazy), nullptr);
  ASSERT_NE(dwarf_offdie(plain->dwarf(), header_size, &first_plain), nullptr);
  EXPECT_EQ(std::string(dwarf_diename(&first_lazy)), dwarf_diename(&first_plain));
  ASSERT_TRUE(lazy->ensure_unit(last));
  ASSERT_NE(dwarf_offdie(lazy->dwarf(), last + header_size, &cu), nullptr);
  EXPECT_EQ(std::string(dwarf_diename(&cu)), last_name);
}

TEST_F(LibcDebugFile, AnInflationResumedGivesTheSameBytesAgain) {
  const Elf64_Shdr* info = debug_->find_section(".debug_info");
  ASSERT_NE(info, nullptr);
  ASSERT_TRUE(info->sh_flags & SHF_COMPRESSED);
  Elf64_Chdr chdr;
  memcpy(&chdr, debug_->at(info->sh_offset), sizeof chdr);
  const uint8_t* stream = debug_->at(info->sh_offset + sizeof chdr);
  const size_t stream_size = info->sh_size - sizeof chdr;
  std::vector<uint8_t> whole(chdr.ch_size);
  SectionInflater reference;
  ASSERT_TRUE(reference.start(stream, stream_size, whole.data(), whole.size()));
  ASSERT_TRUE(reference.inflate_to(whole.size()));

  // Inflated in steps, everything behind each step overwritten (let go, as
  // DwarfImage does): the resume points must not depend on it.
  std::vector<uint8_t> out(chdr.ch_size);
  SectionInflater inflater;
  ASSERT_TRUE(inflater.start(stream, stream_size, out.data(), out.size()));
  inflater.keep_resume_points(1 << 20);
  while (inflater.done() < out.size()) {
    ASSERT_TRUE(inflater.inflate_to(inflater.done() + 100000));
    std::fill(out.begin(), out.begin() + inflater.done(), 0xa5);
  }
  for (size_t offset : {out.size() - 1, out.size() / 2, size_t{3} << 20, size_t{100}}) {
    ASSERT_TRUE(inflater.resume_at(offset)) << offset;
    const size_t from = inflater.done();
    EXPECT_LE(from, offset);
    if (offset > (size_t{2} << 20)) {
      EXPECT_GT(from, offset - (size_t{2} << 20)) << "a point near it";
    } else if (offset < (size_t{1} << 20)) {
      EXPECT_EQ(from, 0u) << "none before it: the start";
    }
    std::fill(out.begin(), out.end(), 0xa5);
    ASSERT_TRUE(inflater.inflate_to(out.size())) << offset;
    EXPECT_TRUE(std::equal(out.begin() + from, out.end(), whole.begin() + from))
        << "resumed at " << from << " for " << offset;
  }
}

TEST_F(LibcDebugFile, PagesLetGoAreReadAgainAsTheyWere) {
  std::unique_ptr<DwarfImage> image = DwarfImage::create(debug_.get());  // patches the first page
  ASSERT_TRUE(image);
  const Elf64_Ehdr patched = *reinterpret_cast<const Elf64_Ehdr*>(debug_->at(0));
  ASSERT_EQ(patched.e_shoff, debug_->image_offset());
  uint64_t sum = 0;
  for (size_t at = 0; at < debug_->size(); at += 512) sum += debug_->at(at)[0];
  const std::string id = hex_string(debug_->build_id());
  const uint64_t read_kib = resident_kib_of_files(id.substr(2) + ".debug");
  ASSERT_GT(read_kib, debug_->size() / 1024 / 2) << "every page was read";
  debug_->release_read_pages();
  EXPECT_LE(resident_kib_of_files(id.substr(2) + ".debug"), 4u) << "the first page stays";
  uint64_t again = 0;
  for (size_t at = 0; at < debug_->size(); at += 512) again += debug_->at(at)[0];
  EXPECT_EQ(again - debug_->at(0)[0], sum - debug_->at(0)[0]);
  EXPECT_EQ(memcmp(debug_->at(0), &patched, sizeof patched), 0) << "the patched header is kept";
}

// Everything a lookup gives, as text: whether it found the address, then
// each frame's fields.
std::string lookup_text(DwarfFrames& frames, uint64_t address, std::string_view symbol = "") {
  std::vector<SourceFrame> out;
  std::string text = frames.frames(address, symbol, &out) ? "found" : "not found";
  for (const SourceFrame& f : out)
    text += " | " + f.system_name + " " + f.file + ":" + std::to_string(f.line) + " start " +
            std::to_string(f.start_line);
  return text;
}

// A cache directory of the test's own, removed (and the cache turned off) at the end.
class CacheDirectory {
 public:
  CacheDirectory() {
    char dir[] = "/tmp/ppagent-unit-frames-XXXXXX";
    if (mkdtemp(dir) != nullptr) path_ = dir;
    configure_build_id_cache(path_, false);
  }
  ~CacheDirectory() {
    configure_build_id_cache("", false);
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  // The entries whose names end with `suffix`.
  std::vector<std::string> entries(const std::string& suffix) const {
    std::vector<std::string> out;
    FILE* list = popen(("ls '" + path_ + "'").c_str(), "r");
    char name[512];
    while (list != nullptr && fgets(name, sizeof name, list) != nullptr) {
      std::string n(name);
      if (!n.empty() && n.back() == '\n') n.pop_back();
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        out.push_back(path_ + "/" + n);
    }
    if (list != nullptr) pclose(list);
    return out;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(LibcDebugFile, TablesBuiltMappedAndWalkedGiveTheSameFrames) {
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  const std::vector<uint64_t> addresses = libc_code_addresses(3000);
  // Today's walk over the whole file, the oracle.
  DwarfFrames walked(plain_file.get(), false);
  std::vector<std::string> expected;
  for (uint64_t address : addresses) expected.push_back(lookup_text(walked, address));
  EXPECT_EQ(walked.unit_counts().built, 0u);

  // Tables built in memory (no cache), on the lazily inflated image.
  DwarfFrames fresh(debug_.get());
  for (size_t i = 0; i < addresses.size(); i++)
    ASSERT_EQ(lookup_text(fresh, addresses[i]), expected[i]) << std::hex << addresses[i];
  EXPECT_GT(fresh.unit_counts().built, 50u);
  EXPECT_EQ(fresh.unit_counts().walked, 0u) << "every libc unit fits in a table";

  CacheDirectory cache;
  ASSERT_FALSE(cache.path().empty());
  DwarfFrames writer(debug_.get());
  for (size_t i = 0; i < addresses.size(); i++)
    ASSERT_EQ(lookup_text(writer, addresses[i]), expected[i]) << std::hex << addresses[i];
  EXPECT_EQ(writer.unit_counts().mapped, 0u);
  EXPECT_EQ(cache.entries(".frames").size(), writer.unit_counts().built)
      << "one entry per unit looked up";
  EXPECT_TRUE(writer.image_opened());
  EXPECT_EQ(cache.entries(".ranges").size(), 1u);

  DwarfFrames reader(debug_.get());
  for (size_t i = 0; i < addresses.size(); i++)
    ASSERT_EQ(lookup_text(reader, addresses[i]), expected[i]) << std::hex << addresses[i];
  EXPECT_EQ(reader.unit_counts().built, 0u);
  EXPECT_EQ(reader.unit_counts().mapped, writer.unit_counts().built);
  EXPECT_FALSE(reader.image_opened()) << "the ranges and every unit's table came from the cache";

  // The symbol table's name, when given, names the function.
  size_t named = 0;
  for (size_t i = 0; i < 200; i++) {
    std::vector<SourceFrame> a, b;
    const bool found = reader.frames(addresses[i], "from_symbol_table", &a);
    ASSERT_EQ(found, walked.frames(addresses[i], "from_symbol_table", &b));
    ASSERT_EQ(a.size(), b.size());
    if (found && a.back().system_name == "from_symbol_table") named++;
  }
  EXPECT_GT(named, 100u);
}

TEST_F(LibcDebugFile, TableLinesAreWhatLibdwFindsAtRowBoundaries) {
  // Around every row of the first units' line tables: the ends of sequences,
  // rows sharing an address, the gaps between sequences.
  std::unique_ptr<ElfFile> plain_file = decompressed_copy(*debug_);
  ASSERT_TRUE(plain_file);
  std::unique_ptr<DwarfImage> image = DwarfImage::create(plain_file.get());
  ASSERT_TRUE(image);
  Dwarf* dbg = image->dwarf();
  std::vector<uint64_t> addresses;
  size_t sequence_ends = 0;
  Dwarf_Off offset = 0, next;
  size_t header_size;
  for (int unit = 0; unit < 150 && image->ensure_unit(offset) &&
                     dwarf_next_unit(dbg, offset, &next, &header_size, nullptr, nullptr, nullptr,
                                     nullptr, nullptr, nullptr) == 0;
       unit++, offset = next) {
    Dwarf_Die cu;
    Dwarf_Lines* lines;
    size_t count;
    if (dwarf_offdie(dbg, offset + header_size, &cu) == nullptr ||
        dwarf_getsrclines(&cu, &lines, &count) != 0)
      continue;
    for (size_t i = 0; i < count; i++) {
      Dwarf_Addr a;
      bool end = false;
      if (dwarf_lineaddr(dwarf_onesrcline(lines, i), &a) != 0) continue;
      dwarf_lineendsequence(dwarf_onesrcline(lines, i), &end);
      sequence_ends += end;
      for (uint64_t near : {a - 1, a, a + 1}) addresses.push_back(near);
    }
  }
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  ASSERT_GT(addresses.size(), 5000u);
  EXPECT_GT(sequence_ends, 100u);

  DwarfFrames walked(plain_file.get(), false);
  DwarfFrames tables(plain_file.get());
  size_t with_lines = 0;
  for (uint64_t address : addresses) {
    const std::string expected = lookup_text(walked, address);
    ASSERT_EQ(lookup_text(tables, address), expected) << std::hex << address;
    with_lines += expected.find(".c:") != std::string::npos;
  }
  EXPECT_GT(with_lines, addresses.size() / 2);
  EXPECT_GT(tables.unit_counts().built, 0u);
}

// Rewrites the file at `path` with `bytes` (a new file renamed over it, as
// the cache's own writer does).
void replace_file(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".test";
  std::ofstream(temporary, std::ios::binary).write(bytes.data(), bytes.size());
  ASSERT_EQ(rename(temporary.c_str(), path.c_str()), 0);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A file-relative address inside libc's __libc_start_main (one unit, whose
// frames name __libc_start_main_impl); 0 when it cannot be found.
uint64_t libc_start_main_offset() {
  Dl_info info;
  void* function = dlsym(RTLD_DEFAULT, "__libc_start_main");
  if (function == nullptr || dladdr(function, &info) == 0) return 0;
  return reinterpret_cast<uintptr_t>(function) + 4 - reinterpret_cast<uintptr_t>(info.dli_fbase);
}

TEST_F(LibcDebugFile, DamagedCachedTablesAreRebuilt) {
  const uint64_t address = libc_start_main_offset();
  ASSERT_NE(address, 0u);
  CacheDirectory cache;
  std::string expected;
  {
    DwarfFrames frames(debug_.get());
    expected = lookup_text(frames, address);
    ASSERT_EQ(frames.unit_counts().built, 1u);
  }
  ASSERT_NE(expected.find("__libc_start_main_impl"), std::string::npos) << expected;
  const std::vector<std::string> entries = cache.entries(".frames");
  ASSERT_EQ(entries.size(), 1u);
  const std::string good = file_bytes(entries[0]);

  // The layout the damage is aimed at: a 128-byte header (magic, version,
  // build-id, file size, unit offset, table size), then the table: its
  // counts, then its scopes.
  constexpr size_t kTable = 128;
  ASSERT_GT(good.size(), kTable + sizeof(UnitFrames::Counts));
  UnitFrames::Counts counts;
  memcpy(&counts, good.data() + kTable, sizeof counts);
  ASSERT_EQ(good.size() - kTable, sizeof counts + counts.scopes * sizeof(UnitFrames::Scope) +
                                      counts.runs * sizeof(UnitFrames::Run) +
                                      counts.rows * sizeof(UnitFrames::Row) + counts.string_bytes);
  ASSERT_GT(counts.scopes, 1u);
  const size_t first_scope = kTable + sizeof counts;
  const size_t first_run = first_scope + counts.scopes * sizeof(UnitFrames::Scope);
  auto with = [&](size_t at, uint32_t value) {
    std::string bytes = good;
    memcpy(&bytes[at], &value, sizeof value);
    return bytes;
  };
  const std::map<std::string, std::string> damaged = {
      {"truncated in the table", good.substr(0, good.size() - 100)},
      {"truncated in the header", good.substr(0, 60)},
      {"empty", std::string()},
      {"longer", good + std::string(64, '\0')},
      {"another format version", with(8, 2)},
      {"another unit offset", with(8 + 4 + 4 + 64 + 8, 1)},
      {"a table size past the end", with(8 + 4 + 4 + 64 + 8 + 8, 1u << 30)},
      {"more scopes than there are", with(kTable, counts.scopes + 1)},
      {"a name outside the pool", with(first_scope + offsetof(UnitFrames::Scope, name), 0xfffffff0)},
      {"a call file just past the pool",
       with(first_scope + offsetof(UnitFrames::Scope, call_file), counts.string_bytes)},
      {"a scope its own parent",
       with(first_scope + sizeof(UnitFrames::Scope) + offsetof(UnitFrames::Scope, parent), 1)},
      {"a run's scope outside the table",
       with(first_run + offsetof(UnitFrames::Run, innermost), counts.scopes)},
      {"a pool without its last NUL", with(good.size() - 4, 0x41414141)},
  };
  for (const auto& [what, bytes] : damaged) {
    replace_file(entries[0], bytes);
    {
      DwarfFrames frames(debug_.get());
      EXPECT_EQ(lookup_text(frames, address), expected) << what;
      EXPECT_EQ(frames.unit_counts().mapped, 0u) << what << ": used";
      EXPECT_EQ(frames.unit_counts().built, 1u) << what;
    }
    // Rebuilt, and written anew.
    DwarfFrames frames(debug_.get());
    EXPECT_EQ(lookup_text(frames, address), expected) << what;
    EXPECT_EQ(frames.unit_counts().mapped, 1u) << what << ": not written anew";
    EXPECT_EQ(file_bytes(entries[0]), good) << what;
  }
}

TEST_F(LibcDebugFile, DamagedCachedRangesAreReadAgain) {
  const uint64_t address = libc_start_main_offset();
  ASSERT_NE(address, 0u);
  CacheDirectory cache;
  std::string expected;
  {
    DwarfFrames frames(debug_.get());
    expected = lookup_text(frames, address);
  }
  ASSERT_NE(expected.find("__libc_start_main_impl"), std::string::npos) << expected;
  const std::vector<std::string> entries = cache.entries(".ranges");
  ASSERT_EQ(entries.size(), 1u);
  const std::string good = file_bytes(entries[0]);
  {
    DwarfFrames frames(debug_.get());
    EXPECT_EQ(lookup_text(frames, address), expected);
    EXPECT_FALSE(frames.image_opened()) << "the ranges and the unit's table are cached";
  }

  // The layout the damage is aimed at: a 128-byte header (magic, version,
  // build-id, file size, count), then the ranges: low, high, unit offset.
  constexpr size_t kRanges = 128, kRange = 24, kCount = 8 + 4 + 4 + 64 + 8;
  ASSERT_GT(good.size(), kRanges + 2 * kRange);
  ASSERT_EQ((good.size() - kRanges) % kRange, 0u);
  auto with = [&](size_t at, uint64_t value, size_t size) {
    std::string bytes = good;
    memcpy(&bytes[at], &value, size);
    return bytes;
  };
  uint64_t second_low;
  memcpy(&second_low, good.data() + kRanges + kRange, 8);
  const std::map<std::string, std::string> damaged = {
      {"truncated in the ranges", good.substr(0, good.size() - kRange)},
      {"truncated in the header", good.substr(0, 60)},
      {"empty", std::string()},
      {"longer", good + std::string(kRange, '\0')},
      {"another format version", with(8, 2, 4)},
      {"another file size", with(kCount - 8, 12345, 8)},
      {"a count past the end", with(kCount, 1u << 20, 8)},
      {"out of order", with(kRanges, second_low + 1, 8)},
      {"an empty range", with(kRanges + 8, 0, 8)},
  };
  for (const auto& [what, bytes] : damaged) {
    replace_file(entries[0], bytes);
    {
      DwarfFrames frames(debug_.get());
      EXPECT_EQ(lookup_text(frames, address), expected) << what;
      EXPECT_TRUE(frames.image_opened()) << what << ": used";
    }
    // Read again, and written anew.
    EXPECT_TRUE(file_bytes(entries[0]) == good) << what << ": not written anew";
    DwarfFrames frames(debug_.get());
    EXPECT_EQ(lookup_text(frames, address), expected) << what;
    EXPECT_FALSE(frames.image_opened()) << what;
  }
}

// The DIEs of each tag under `die`.
void count_tags(Dwarf_Die* die, std::map<int, size_t>* counts) {
  Dwarf_Die child;
  if (dwarf_child(die, &child) != 0) return;
  do {
    (*counts)[dwarf_tag(&child)]++;
    count_tags(&child, counts);
  } while (dwarf_siblingof(&child, &child) == 0);
}

TEST(UnitFrames, InlinedCallsInsideLexicalBlocksAreWhatAddr2lineShows) {
  const std::string path = std::string(PPAGENT_TEST_FILES) + "/libsymtest_inline.so";
  std::unique_ptr<ElfFile> file = ElfFile::open(path, nullptr);
  ASSERT_TRUE(file) << path;
  std::unique_ptr<DwarfImage> image = DwarfImage::create(file.get());
  ASSERT_TRUE(image);
  // What the test is about is there: lexical blocks, and inlined calls in them.
  {
    ASSERT_TRUE(image->ensure_unit(0));
    Dwarf_Off next;
    size_t header_size;
    Dwarf_Die cu;
    ASSERT_EQ(dwarf_next_unit(image->dwarf(), 0, &next, &header_size, nullptr, nullptr, nullptr,
                              nullptr, nullptr, nullptr), 0);
    ASSERT_NE(dwarf_offdie(image->dwarf(), header_size, &cu), nullptr);
    std::map<int, size_t> tags;
    count_tags(&cu, &tags);
    EXPECT_GT(tags[DW_TAG_lexical_block], 2u);
    EXPECT_GT(tags[DW_TAG_inlined_subroutine], 5u);
  }
  std::vector<uint64_t> addresses;
  for (const Elf64_Phdr& p : file->program_headers())
    if (p.p_type == PT_LOAD && (p.p_flags & PF_X))
      for (uint64_t a = p.p_vaddr; a < p.p_vaddr + p.p_memsz; a++) addresses.push_back(a);
  const std::vector<std::vector<ShownFrame>> expected = addr2line_frames(path, addresses);
  ASSERT_EQ(expected.size(), addresses.size()) << "addr2line (binutils) did not answer";

  DwarfFrames tables(file.get());
  DwarfFrames walked(file.get(), false);
  const std::vector<std::vector<ShownFrame>> shown = shown_frames(tables, addresses);
  size_t compared = 0, deepest = 0;
  for (size_t i = 0; i < addresses.size(); i++) {
    ASSERT_EQ(lookup_text(tables, addresses[i]), lookup_text(walked, addresses[i]))
        << std::hex << addresses[i];
    // addr2line also names the C runtime's code (_init, _fini) from symbols.
    if (expected[i].empty() || shown[i].empty()) continue;
    EXPECT_EQ(shown[i], expected[i]) << std::hex << addresses[i];
    compared++;
    deepest = std::max(deepest, expected[i].size());
  }
  EXPECT_GT(compared, 100u);
  EXPECT_GE(deepest, 3u) << "a leaf inlined into a function inlined into another";
  EXPECT_EQ(tables.unit_counts().built, 1u);
  EXPECT_EQ(tables.unit_counts().walked, 0u);
}

}  // namespace
}  // namespace ppagent
