#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "base/process_maps.h"

namespace ppagent {
namespace {

TEST(ProcessMaps, KeepsExecutableFileMappingsMainFirst) {
  const std::string maps =
      "7f0000000000-7f0000001000 r--p 00000000 08:01 100 /usr/lib/libc.so.6\n"
      "7f0000001000-7f0000005000 r-xp 00001000 08:01 100 /usr/lib/libc.so.6\n"
      "555500000000-555500002000 r-xp 00002000 08:01 200 /opt/app/server (deleted)\n"
      "7f0000100000-7f0000200000 rwxp 00000000 00:00 0 \n"
      "7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0 [vdso]\n";
  auto entries = parse_executable_mappings(maps, "/opt/app/server");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].path, "/opt/app/server");
  EXPECT_EQ(entries[0].start, 0x555500000000u);
  EXPECT_EQ(entries[0].offset, 0x2000u);
  EXPECT_TRUE(entries[0].deleted);
  EXPECT_TRUE(entries[0].main_executable);
  EXPECT_FALSE(entries[1].deleted);
  EXPECT_FALSE(entries[1].main_executable);
  EXPECT_EQ(entries[1].path, "/usr/lib/libc.so.6");
  EXPECT_EQ(entries[1].limit, 0x7f0000005000u);
  EXPECT_EQ(entries[2].path, "[vdso]");
}

TEST(ProcessMaps, PathsWithSpacesPaddingAndBrokenLines) {
  const std::string maps =
      "7f0000001000-7f0000005000 r-xp 00001000 fd:01 1234567                    /opt/my app/lib x.so\n"
      "garbage\n"
      "7f0000001000-7f0000005000\n"
      "7f0000006000-7f0000007000 r-x\n"
      "7f0000008000-7f0000009000 r-xp zz 08:01 1 /x\n"
      "\n"
      "7f000000a000-7f000000b000 r-xp 0000a000 08:01 2 /last/without/newline";
  auto entries = parse_executable_mappings(maps, "");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "/opt/my app/lib x.so");
  EXPECT_EQ(entries[0].offset, 0x1000u);
  EXPECT_EQ(entries[1].path, "/last/without/newline");
  EXPECT_EQ(entries[1].start, 0x7f000000a000u);
  EXPECT_EQ(entries[1].limit, 0x7f000000b000u);
  EXPECT_EQ(entries[1].offset, 0xa000u);
}

TEST(ProcessMaps, ThisProcessHasItsExecutableFirst) {
  auto entries = read_executable_mappings();
  ASSERT_FALSE(entries.empty());
  EXPECT_NE(entries[0].path.find("test_process_maps"), std::string::npos) << entries[0].path;
}

bool maps_address(const std::vector<MapEntry>& entries, const void* address) {
  const auto a = reinterpret_cast<uintptr_t>(address);
  return std::any_of(entries.begin(), entries.end(),
                     [&](const MapEntry& e) { return a >= e.start && a < e.limit; });
}

TEST(ProcessMaps, OneReadServesTheWholeScopeOfAWrite) {
  const int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  void* later = nullptr;
  {
    OneMappingsRead one;
    // Mapped after the read: not in what the scope's readers see.
    later = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    ASSERT_NE(later, MAP_FAILED);
    EXPECT_FALSE(maps_address(read_executable_mappings(), later));
    {
      OneMappingsRead nested;  // a scope inside one reads afresh, for its own time
      EXPECT_TRUE(maps_address(read_executable_mappings(), later));
    }
    EXPECT_FALSE(maps_address(read_executable_mappings(), later));
  }
  EXPECT_TRUE(maps_address(read_executable_mappings(), later)) << "read afresh after the scope";
  munmap(later, 4096);
  close(fd);
}

}  // namespace
}  // namespace ppagent
