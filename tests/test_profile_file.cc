#include <gtest/gtest.h>

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "output/profile_file.h"

namespace ppagent {
namespace {

std::string gunzip(const std::string& data) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  EXPECT_EQ(rc, Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  while (struct dirent* e = readdir(d))
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
  closedir(d);
  return names;
}

class ProfileFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ppagent-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& n : list_dir(dir_)) unlink((dir_ + "/" + n).c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST(ProfileFileName, Format) {
  EXPECT_EQ(profile_file_name("server", 1234, "cpu"), "server.1234.cpu.pb.gz");
  EXPECT_EQ(profile_file_name("a/b", 1, "cpu"), "a_b.1.cpu.pb.gz");
  EXPECT_EQ(profile_file_name("", 1, "cpu"), "program.1.cpu.pb.gz");
  EXPECT_EQ(profile_file_name(".hidden", 1, "cpu"), "program.hidden.1.cpu.pb.gz");
}

TEST_F(ProfileFileTest, WritesGzipAndLeavesNoTemporaryFile) {
  std::string error;
  ASSERT_TRUE(write_profile_file(dir_, "p.1.cpu.pb.gz", "hello profile", &error)) << error;
  std::string bytes = read_all(dir_ + "/p.1.cpu.pb.gz");
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
  EXPECT_EQ(gunzip(bytes), "hello profile");
  EXPECT_EQ(list_dir(dir_).size(), 1u);
}

TEST_F(ProfileFileTest, NeverOverwrites) {
  std::string error;
  ASSERT_TRUE(write_profile_file(dir_, "p.1.cpu.pb.gz", "first", &error));
  EXPECT_FALSE(write_profile_file(dir_, "p.1.cpu.pb.gz", "second", &error));
  EXPECT_NE(error.find("already exists"), std::string::npos) << error;
  EXPECT_EQ(gunzip(read_all(dir_ + "/p.1.cpu.pb.gz")), "first");
  EXPECT_EQ(list_dir(dir_).size(), 1u);  // no temporary left behind
}

TEST_F(ProfileFileTest, MissingDirectoryIsAnError) {
  std::string error;
  EXPECT_FALSE(write_profile_file(dir_ + "/missing", "p.pb.gz", "x", &error));
  EXPECT_NE(error.find(dir_ + "/missing"), std::string::npos) << error;
}

}  // namespace
}  // namespace ppagent
