#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config.h"

namespace ppagent {
namespace {

Config parse(const std::map<std::string, std::string>& vars, std::vector<std::string>* problems,
             const std::string& cwd = "/tmp") {
  return parse_config(
      [&vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      cwd, problems);
}

TEST(ParseInt, AcceptsOnlyStrictDecimalInRange) {
  long v = -1;
  EXPECT_TRUE(parse_int_in_range("0", 0, 1000, &v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_int_in_range("1000", 0, 1000, &v));
  EXPECT_EQ(v, 1000);
  EXPECT_TRUE(parse_int_in_range("-3", -5, 5, &v));
  EXPECT_EQ(v, -3);
  for (const char* bad : {"", "-", "1001", "-1", "abc", "10x", " 10", "10 ", "+5", "1e3", "0x10",
                          "99999999999999999999999"})
    EXPECT_FALSE(parse_int_in_range(bad, 0, 1000, &v)) << bad;
}

TEST(Config, Defaults) {
  std::vector<std::string> problems;
  Config c = parse({}, &problems, "/tmp");
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.cpu_hz, 100);
  EXPECT_EQ(c.output_dir, "/tmp");
  EXPECT_EQ(c.report_file, "");
}

TEST(Config, CpuHz) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({{"PPROF_CPU_HZ", "250"}}, &problems).cpu_hz, 250);
  EXPECT_EQ(parse({{"PPROF_CPU_HZ", "0"}}, &problems).cpu_hz, 0);
  EXPECT_EQ(parse({{"PPROF_CPU_HZ", ""}}, &problems).cpu_hz, 100);  // empty = unset
  EXPECT_TRUE(problems.empty());
  for (const char* bad : {"abc", "-1", "1001", "12.5"}) {
    problems.clear();
    EXPECT_EQ(parse({{"PPROF_CPU_HZ", bad}}, &problems).cpu_hz, 0) << bad;
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_NE(problems[0].find("PPROF_CPU_HZ=\"" + std::string(bad) + "\""), std::string::npos);
    EXPECT_NE(problems[0].find("0 to 1000"), std::string::npos);
  }
}

TEST(Config, OutputDirIsResolvedAtStart) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({{"PPROF_OUTPUT_DIR", "."}}, &problems, "/tmp").output_dir, "/tmp/.");
  EXPECT_EQ(parse({{"PPROF_OUTPUT_DIR", "/"}}, &problems, "/tmp").output_dir, "/");
  EXPECT_EQ(parse({{"PPROF_OUTPUT_DIR", "tmp"}}, &problems, "/").output_dir, "/tmp");
  EXPECT_TRUE(problems.empty());
  Config c = parse({{"PPROF_OUTPUT_DIR", "/nonexistent/dir"}}, &problems);
  EXPECT_EQ(c.output_dir, "");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("PPROF_OUTPUT_DIR=\"/nonexistent/dir\""), std::string::npos);
}

TEST(Config, CpuMaxStacks) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({}, &problems).cpu_max_stacks, 65536);
  EXPECT_EQ(parse({{"PPROF_CPU_MAX_STACKS", "16"}}, &problems).cpu_max_stacks, 16);
  EXPECT_TRUE(problems.empty());
  Config c = parse({{"PPROF_CPU_MAX_STACKS", "8"}}, &problems);
  EXPECT_EQ(c.cpu_max_stacks, 65536);
  EXPECT_EQ(c.cpu_hz, 100);  // only this setting falls back
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("PPROF_CPU_MAX_STACKS=\"8\""), std::string::npos);
}

TEST(Config, ReportFile) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({{"PPROF_REPORT_FILE", "r.txt"}}, &problems, "/var").report_file, "/var/r.txt");
}

}  // namespace
}  // namespace ppagent
