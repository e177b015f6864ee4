// PPROF_CHILDREN and PPROF_PROGRAMS parsing, the program-name match, and the
// LD_PRELOAD edit the agent makes when children are not wanted.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/process_filter.h"

namespace ppagent {
namespace {

ProcessFilter parse(const std::map<std::string, std::string>& vars, std::vector<std::string>* problems) {
  return parse_process_filter(
      [&vars](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      problems);
}

TEST(ProcessFilter, DefaultsProfileEveryProcessAndProgram) {
  std::vector<std::string> problems;
  for (const auto& vars : std::vector<std::map<std::string, std::string>>{
           {}, {{"PPROF_CHILDREN", ""}, {"PPROF_PROGRAMS", ""}}, {{"PPROF_CHILDREN", "1"}}}) {
    ProcessFilter f = parse(vars, &problems);
    EXPECT_TRUE(f.children);
    EXPECT_TRUE(f.programs.empty());
    EXPECT_TRUE(program_selected(f, "anything"));
  }
  EXPECT_TRUE(problems.empty());
}

TEST(ProcessFilter, ChildrenZeroTurnsChildrenOff) {
  std::vector<std::string> problems;
  EXPECT_FALSE(parse({{"PPROF_CHILDREN", "0"}}, &problems).children);
  EXPECT_TRUE(problems.empty());
}

TEST(ProcessFilter, BadChildrenValueIsOneProblemAndKeepsChildren) {
  for (const char* bad : {"2", "no", "00", " 0", "0 ", "true", "-1"}) {
    std::vector<std::string> problems;
    ProcessFilter f = parse({{"PPROF_CHILDREN", bad}}, &problems);
    EXPECT_TRUE(f.children) << bad;
    ASSERT_EQ(problems.size(), 1u) << bad;
    EXPECT_NE(problems[0].find("PPROF_CHILDREN=\"" + std::string(bad) + "\""), std::string::npos)
        << problems[0];
  }
}

TEST(ProcessFilter, ProgramsListSelectsByExactName) {
  std::vector<std::string> problems;
  ProcessFilter f = parse({{"PPROF_PROGRAMS", "nginx,php-fpm,a b"}}, &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(f.programs, (std::vector<std::string>{"nginx", "php-fpm", "a b"}));
  EXPECT_TRUE(program_selected(f, "nginx"));
  EXPECT_TRUE(program_selected(f, "php-fpm"));
  EXPECT_TRUE(program_selected(f, "a b"));
  EXPECT_FALSE(program_selected(f, "nginx2"));
  EXPECT_FALSE(program_selected(f, "ngin"));
  EXPECT_FALSE(program_selected(f, "NGINX"));
  EXPECT_FALSE(program_selected(f, ""));
  EXPECT_FALSE(program_selected(f, nullptr));
}

TEST(ProcessFilter, BadProgramsValueIsOneProblemAndSelectsEveryProgram) {
  for (const char* bad : {",", "a,", ",a", "a,,b", "bin/sh", "/usr/bin/x", ".", "a,.."}) {
    std::vector<std::string> problems;
    ProcessFilter f = parse({{"PPROF_PROGRAMS", bad}}, &problems);
    EXPECT_TRUE(f.programs.empty()) << bad;
    EXPECT_TRUE(program_selected(f, "whatever")) << bad;
    ASSERT_EQ(problems.size(), 1u) << bad;
    EXPECT_NE(problems[0].find("PPROF_PROGRAMS"), std::string::npos) << problems[0];
  }
}

TEST(ProcessFilter, BothBadGiveTwoProblems) {
  std::vector<std::string> problems;
  parse({{"PPROF_CHILDREN", "x"}, {"PPROF_PROGRAMS", "a/b"}}, &problems);
  EXPECT_EQ(problems.size(), 2u);
}

TEST(PreloadWithout, RemovesOnlyTheAgentsEntries) {
  auto is_agent = [](const std::string& e) { return e == "/lib/libppagent.so"; };
  EXPECT_EQ(preload_without("/lib/libppagent.so", is_agent), "");
  EXPECT_EQ(preload_without("/lib/libppagent.so:/x/other.so", is_agent), "/x/other.so");
  EXPECT_EQ(preload_without("/x/a.so /lib/libppagent.so  /x/b.so", is_agent), "/x/a.so:/x/b.so");
  EXPECT_EQ(preload_without("::/x/a.so::/lib/libppagent.so:", is_agent), "/x/a.so");
  EXPECT_EQ(preload_without("/x/a.so:/lib/libppagent.so:/lib/libppagent.so", is_agent), "/x/a.so");
  EXPECT_EQ(preload_without("/x/a.so", is_agent), "/x/a.so");
  EXPECT_EQ(preload_without("", is_agent), "");
}

}  // namespace
}  // namespace ppagent
