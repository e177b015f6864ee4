#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "base/config.h"
#include "base/signal_masks.h"

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

std::string read_source_file(const std::string& path) {
  std::ifstream in(std::string(PPAGENT_SOURCE_ROOT) + "/" + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The section of ppagent-env(7) on `name`, white space folded, in lower case.
std::string man_section(const std::string& name) {
  const std::string man = read_source_file("man/ppagent-env.7.scd");
  const size_t start = man.find("\n*" + name + "*\n");
  if (start == std::string::npos) return std::string();
  size_t end = man.find("\n*", start + 1);
  end = std::min(end, man.find("\n#", start + 1));
  std::string folded;
  for (size_t i = start; i < end && i < man.size(); i++) {
    const char c = static_cast<char>(tolower(static_cast<unsigned char>(man[i])));
    if (isspace(static_cast<unsigned char>(c))) {
      if (!folded.empty() && folded.back() != ' ') folded += ' ';
    } else {
      folded += c;
    }
  }
  return folded;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return text;
}

TEST(Config, EveryVariableAsTheManPagesDocumentIt) {
  ASSERT_GT(kVariableCount, 0u);
  const std::string launcher_man = read_source_file("man/ppagent.1.scd");
  ASSERT_FALSE(launcher_man.empty());
  std::string launcher_man_folded;
  for (char c : launcher_man) {
    if (!isspace(static_cast<unsigned char>(c))) launcher_man_folded += c;
    else if (!launcher_man_folded.empty() && launcher_man_folded.back() != ' ') launcher_man_folded += ' ';
  }
  for (size_t i = 0; i < kVariableCount; i++) {
    const Variable& row = kVariables[i];
    const std::string section = man_section(row.name);
    ASSERT_FALSE(section.empty()) << row.name << " has no section in ppagent-env(7)";
    ASSERT_NE(row.documented_default, nullptr) << row.name;
    EXPECT_NE(section.find(lower(row.documented_default)), std::string::npos)
        << row.name << ": ppagent-env(7) does not say \"" << row.documented_default << "\"";
    if (row.kind == VariableKind::kInteger) {
      EXPECT_NE(section.find("from " + std::to_string(row.min) + " to"), std::string::npos)
          << row.name;
      EXPECT_NE(section.find(std::to_string(row.max)), std::string::npos) << row.name;
      EXPECT_NE(std::string(row.documented_default).find(std::to_string(row.default_value)),
                std::string::npos)
          << row.name << ": default " << row.default_value;
    }
    // A bad value's consequence: what ppagent-env(7) calls off or kept.
    EXPECT_TRUE(row.off_when_bad || row.kind != VariableKind::kInteger ||
                section.find("keeps the default") != std::string::npos)
        << row.name;
    if (row.flag != nullptr) {
      EXPECT_NE(launcher_man.find(std::string("*") + row.flag + "*"), std::string::npos)
          << row.flag << " (" << row.name << ") has no entry in ppagent(1)";
      // ENVIRONMENT: "*PPROF_CPU_HZ* (from *--cpu-hz*)".
      EXPECT_NE(launcher_man_folded.find(std::string("*") + row.name + "* (from *" + row.flag + "*"),
                std::string::npos)
          << "ppagent(1) does not say that " << row.flag << " sets " << row.name;
    }
    EXPECT_EQ(&variable(row.name), &row);
  }
}

// Every PPROF_ name the agent's man page gives a section has a row.
TEST(Config, EveryDocumentedVariableHasARow) {
  const std::string man = read_source_file("man/ppagent-env.7.scd");
  size_t at = 0;
  int sections = 0;
  while ((at = man.find("\n*PPROF_", at)) != std::string::npos) {
    const size_t end = man.find('\n', at + 1);
    const std::string line = man.substr(at + 1, end - at - 1);  // *PPROF_NAME* alone: a section
    at = end;
    if (line.back() != '*' || line.find_first_of(" *", 1) != line.size() - 1) continue;
    const std::string name = line.substr(1, line.size() - 2);
    bool found = false;
    for (size_t i = 0; i < kVariableCount; i++) found = found || name == kVariables[i].name;
    EXPECT_TRUE(found) << name << " is documented but has no row";
    sections++;
  }
  EXPECT_EQ(static_cast<size_t>(sections), kVariableCount);
}

// What the launcher relies on: options are unique, and each option that
// takes a value is checked by its row's parser, against the rows above.
TEST(Config, OptionsAreCheckedByTheirRows) {
  std::set<std::string> flags;
  const EnvLookup env = [](const char*) -> const char* { return nullptr; };
  Config so_far;
  const VariableContext context{&env, "/", &so_far, /*for_flags=*/true};
  for (size_t i = 0; i < kVariableCount; i++) {
    const Variable& row = kVariables[i];
    if (row.flag == nullptr) continue;
    EXPECT_TRUE(flags.insert(row.flag).second) << row.flag << " sets two variables";
    VariableValue value;
    std::string refusal;
    if (row.flag_sets != nullptr) {
      EXPECT_EQ(parse_variable(row, row.flag_sets, context, &value, &refusal), Verdict::kValid)
          << row.flag;
      continue;
    }
    EXPECT_NE(parse_variable(row, "no/such,,value", context, &value, &refusal), Verdict::kValid)
        << row.flag;
  }
  VariableValue value;
  std::string refusal;
  EXPECT_EQ(parse_variable(variable("PPROF_CPU_SIGNAL"), "USR2", context, &value, &refusal),
            Verdict::kRefused);
  EXPECT_EQ(refusal, "is also the dump signal; choose another one for either (--dump-signal)");
  EXPECT_EQ(parse_variable(variable("PPROF_HTTP"), "10.0.0.1:80", context, &value, &refusal),
            Verdict::kRefused);
  EXPECT_NE(refusal.find("add --http-allow-remote"), std::string::npos) << refusal;
  so_far.http_allow_remote = true;
  EXPECT_EQ(parse_variable(variable("PPROF_HTTP"), "10.0.0.1:80", context, &value, &refusal),
            Verdict::kValid);
  EXPECT_EQ(value.text, "10.0.0.1");
  EXPECT_EQ(value.number, 80);
}

TEST(Config, DefaultsAreTheTables) {
  std::vector<std::string> problems;
  const Config parsed = parse({}, &problems);
  const Config c;  // what code that never parses sees
  const std::map<std::string, long long> held = {
      {"PPROF_CPU_HZ", c.cpu_hz},
      {"PPROF_CPU_MAX_STACKS", c.cpu_max_stacks},
      {"PPROF_MEM_RATE", c.mem_rate},
      {"PPROF_HEAP_BACKEND", static_cast<long long>(c.heap_backend)},
      {"PPROF_DUMP_SIGNAL", c.dump_signal},
      {"PPROF_CPU_SIGNAL", c.cpu_signal},
      {"PPROF_HEAP_DUMP_INTERVAL", c.heap_dump_interval},
      {"PPROF_FLUSH_INTERVAL", c.flush_interval},
      {"PPROF_HEAP_DUMP_BYTES", c.heap_dump_bytes},
      {"PPROF_MUTEX_FRACTION", c.mutex_fraction},
      {"PPROF_BLOCK_RATE", c.block_rate},
      {"PPROF_HTTP_ALLOW_REMOTE", c.http_allow_remote},
      {"PPROF_FILE_MODE", c.file_mode},
  };
  for (const auto& [name, value] : held)
    EXPECT_EQ(variable(name.c_str()).default_value, value) << name;
  EXPECT_EQ(parsed.cpu_hz, c.cpu_hz);
  EXPECT_EQ(parsed.dump_signal, c.dump_signal);
  EXPECT_EQ(parsed.file_mode, c.file_mode);
  EXPECT_EQ(parsed.heap_backend, c.heap_backend);
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
  // Resolved to the real path once, so a later chdir or a link swapped in
  // does not change where profiles go.
  EXPECT_EQ(parse({{"PPROF_OUTPUT_DIR", "."}}, &problems, "/tmp").output_dir, "/tmp");
  EXPECT_EQ(parse({{"PPROF_OUTPUT_DIR", "tmp/../tmp/"}}, &problems, "/").output_dir, "/tmp");
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

TEST(Config, HeapSettings) {
  std::vector<std::string> problems;
  Config d = parse({}, &problems);
  EXPECT_EQ(d.mem_rate, 524288);
  EXPECT_EQ(d.dump_signal, SIGUSR2);
  EXPECT_EQ(d.heap_dump_interval, 0);
  EXPECT_EQ(d.heap_dump_bytes, 0);
  Config c = parse({{"PPROF_MEM_RATE", "1"}, {"PPROF_DUMP_SIGNAL", "none"},
                    {"PPROF_HEAP_DUMP_INTERVAL", "60"}, {"PPROF_HEAP_DUMP_BYTES", "1073741824"}},
                   &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.mem_rate, 1);
  EXPECT_EQ(c.dump_signal, 0);
  EXPECT_EQ(c.heap_dump_interval, 60);
  EXPECT_EQ(c.heap_dump_bytes, 1073741824LL);
  for (auto [var, bad] : std::vector<std::pair<std::string, std::string>>{
           {"PPROF_MEM_RATE", "-1"}, {"PPROF_MEM_RATE", "1073741825"}, {"PPROF_MEM_RATE", "4k"},
           {"PPROF_DUMP_SIGNAL", "FOO"}, {"PPROF_DUMP_SIGNAL", "999"},
           {"PPROF_HEAP_DUMP_INTERVAL", "x"}, {"PPROF_HEAP_DUMP_BYTES", "-5"}}) {
    problems.clear();
    parse({{var, bad}}, &problems);
    ASSERT_EQ(problems.size(), 1u) << var << "=" << bad;
    EXPECT_NE(problems[0].find(var + "=\"" + bad + "\""), std::string::npos) << problems[0];
  }
  problems.clear();
  EXPECT_EQ(parse({{"PPROF_MEM_RATE", "abc"}}, &problems).mem_rate, 0);  // off, not default
  for (const char* unusable : {"KILL", "9", "SEGV", "PROF", "32"}) {
    problems.clear();
    EXPECT_EQ(parse({{"PPROF_DUMP_SIGNAL", unusable}}, &problems).dump_signal, 0) << unusable;
    ASSERT_EQ(problems.size(), 1u) << unusable;
    EXPECT_NE(problems[0].find("cannot be the dump signal"), std::string::npos) << problems[0];
  }
  EXPECT_EQ(parse({{"PPROF_DUMP_SIGNAL", "RTMIN+2"}}, &problems).dump_signal, SIGRTMIN + 2);
}

TEST(Config, ContentionSettings) {
  std::vector<std::string> problems;
  Config d = parse({}, &problems);
  EXPECT_EQ(d.mutex_fraction, 0);
  EXPECT_EQ(d.block_rate, 0);
  Config c = parse({{"PPROF_MUTEX_FRACTION", "5"}, {"PPROF_BLOCK_RATE", "1000000000000"}}, &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.mutex_fraction, 5);
  EXPECT_EQ(c.block_rate, 1000000000000LL);
  for (auto [var, bad] : std::vector<std::pair<std::string, std::string>>{
           {"PPROF_MUTEX_FRACTION", "-1"}, {"PPROF_MUTEX_FRACTION", "1000000001"},
           {"PPROF_MUTEX_FRACTION", "x"}, {"PPROF_BLOCK_RATE", "1000000000001"},
           {"PPROF_BLOCK_RATE", "1ms"}}) {
    problems.clear();
    Config bad_config = parse({{var, bad}}, &problems);
    EXPECT_EQ(bad_config.mutex_fraction, 0);
    EXPECT_EQ(bad_config.block_rate, 0);
    ASSERT_EQ(problems.size(), 1u) << var << "=" << bad;
    EXPECT_NE(problems[0].find(var + "=\"" + bad + "\""), std::string::npos) << problems[0];
  }
}

TEST(ParseSignal, NamesNumbersAndNone) {
  int s = -1;
  EXPECT_TRUE(parse_signal("USR2", &s));
  EXPECT_EQ(s, SIGUSR2);
  EXPECT_TRUE(parse_signal("sigusr1", &s));
  EXPECT_EQ(s, SIGUSR1);
  EXPECT_TRUE(parse_signal("12", &s));
  EXPECT_EQ(s, 12);
  EXPECT_TRUE(parse_signal("RTMIN", &s));
  EXPECT_EQ(s, SIGRTMIN);
  EXPECT_TRUE(parse_signal("SIGRTMIN+3", &s));
  EXPECT_EQ(s, SIGRTMIN + 3);
  EXPECT_TRUE(parse_signal("RTMAX-1", &s));
  EXPECT_EQ(s, SIGRTMAX - 1);
  EXPECT_TRUE(parse_signal("none", &s));
  EXPECT_EQ(s, 0);
  EXPECT_TRUE(parse_signal("0", &s));
  EXPECT_EQ(s, 0);
  // The aliases the launcher always took; the agent reads the same grammar.
  EXPECT_TRUE(parse_signal("CLD", &s));
  EXPECT_EQ(s, SIGCHLD);
  EXPECT_TRUE(parse_signal("sigpoll", &s));
  EXPECT_EQ(s, SIGIO);
  for (const char* bad : {"", "FOO", "65", "-1", "RTMIN-1", "RTMAX+1", "USR2x"})
    EXPECT_FALSE(parse_signal(bad, &s)) << bad;
}

TEST(Config, CpuSignal) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({}, &problems).cpu_signal, 0);  // the agent chooses
  const std::pair<const char*, int> good[] = {
      {"PROF", SIGPROF},       {"SIGPROF", SIGPROF},          {"27", SIGPROF},
      {"vtalrm", SIGVTALRM},   {"USR1", SIGUSR1},             {"RTMAX", SIGRTMAX},
      {"RTMAX-3", SIGRTMAX - 3}, {"sigrtmin+2", SIGRTMIN + 2}, {"34", SIGRTMIN}};
  for (const auto& [text, signo] : good) {
    problems.clear();
    EXPECT_EQ(parse({{"PPROF_CPU_SIGNAL", text}}, &problems).cpu_signal, signo) << text;
    EXPECT_TRUE(problems.empty()) << text;
  }
  // Malformed, unusable, or the dump signal: one message that says what to
  // do, and the agent's own choice instead.
  const std::pair<std::map<std::string, std::string>, const char*> bad[] = {
      {{{"PPROF_CPU_SIGNAL", "FOO"}}, "is not valid (expected PROF, VTALRM, ALRM, USR1, USR2"},
      {{{"PPROF_CPU_SIGNAL", "RTMAX+1"}}, "is not valid"},
      {{{"PPROF_CPU_SIGNAL", "none"}}, "cannot be the CPU signal (CPU sampling needs a signal"},
      {{{"PPROF_CPU_SIGNAL", "KILL"}}, "cannot be the CPU signal (it cannot be caught"},
      {{{"PPROF_CPU_SIGNAL", "SEGV"}}, "cannot be the CPU signal (it reports a fault"},
      {{{"PPROF_CPU_SIGNAL", "TSTP"}}, "cannot be the CPU signal (it is a job-control"},
      {{{"PPROF_CPU_SIGNAL", "32"}}, "cannot be the CPU signal (the C library uses it itself"},
      {{{"PPROF_CPU_SIGNAL", "33"}}, "cannot be the CPU signal (the C library uses it itself"},
      {{{"PPROF_CPU_SIGNAL", "TERM"}}, "cannot be the CPU signal (the kernel, the terminal"},
      {{{"PPROF_CPU_SIGNAL", "USR2"}}, "is also the dump signal (PPROF_DUMP_SIGNAL)"},
      {{{"PPROF_CPU_SIGNAL", "RTMAX"}, {"PPROF_DUMP_SIGNAL", "RTMAX"}}, "is also the dump signal"},
  };
  for (const auto& [vars, message] : bad) {
    problems.clear();
    EXPECT_EQ(parse(vars, &problems).cpu_signal, 0) << vars.at("PPROF_CPU_SIGNAL");
    ASSERT_EQ(problems.size(), 1u) << vars.at("PPROF_CPU_SIGNAL");
    EXPECT_NE(problems[0].find(message), std::string::npos) << problems[0];
    EXPECT_EQ(problems[0].rfind("PPROF_CPU_SIGNAL=\"", 0), 0u) << problems[0];
    EXPECT_NE(problems[0].find("; using the default, the highest real-time signal"),
              std::string::npos) << problems[0];
  }
  // With no dump signal, USR2 is free.
  problems.clear();
  EXPECT_EQ(parse({{"PPROF_CPU_SIGNAL", "USR2"}, {"PPROF_DUMP_SIGNAL", "none"}}, &problems)
                .cpu_signal, SIGUSR2);
  EXPECT_TRUE(problems.empty());
}

TEST(SignalName, NamesRealTimeSignalsFromTheNearerEnd) {
  EXPECT_EQ(signal_name(SIGPROF), "SIGPROF");
  EXPECT_EQ(signal_name(SIGUSR2), "SIGUSR2");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMAX");
  EXPECT_EQ(signal_name(SIGRTMAX - 2), "SIGRTMAX-2");
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
  EXPECT_EQ(signal_name(32), "signal 32");
  EXPECT_EQ(signal_name(0), "none");
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");  // the canonical name, not SIGIOT
}

TEST(SignalMasks, ASetNamesTheCpuSignalUnlessItHoldsEveryRealTimeSignal) {
  sigset_t set;
  sigfillset(&set);
  EXPECT_FALSE(names_signal_specifically(set, SIGRTMAX));
  EXPECT_FALSE(names_signal_specifically(set, SIGPROF));
  sigdelset(&set, SIGINT);  // "everything but SIGINT" is still everything for the agent
  EXPECT_FALSE(names_signal_specifically(set, SIGRTMAX));
  sigdelset(&set, SIGRTMIN + 1);
  EXPECT_TRUE(names_signal_specifically(set, SIGRTMAX));
  sigemptyset(&set);
  sigaddset(&set, SIGRTMAX);
  EXPECT_TRUE(names_signal_specifically(set, SIGRTMAX));
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  sigaddset(&set, SIGTERM);
  EXPECT_TRUE(names_signal_specifically(set, SIGPROF));
}

TEST(HttpAddress, ParsesHostAndPort) {
  std::string host;
  int port = 0;
  EXPECT_TRUE(parse_http_address("127.0.0.1:6060", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 6060);
  EXPECT_TRUE(parse_http_address("localhost:1", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 1);
  EXPECT_TRUE(parse_http_address("LocalHost:65535", &host, &port));
  EXPECT_EQ(port, 65535);
  EXPECT_TRUE(parse_http_address("[::1]:6060", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_TRUE(parse_http_address("[fe80::1:2]:80", &host, &port));
  EXPECT_EQ(host, "fe80::1:2");
  EXPECT_EQ(port, 80);
  for (const char* bad : {"", "6060", ":6060", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                          "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:60 ",
                          "127.1:80", "256.0.0.1:80", "example.com:80", "::1:6060", "[::1]",
                          "[::1]6060", "[::1]:", "[not:an:address]:80", "[127.0.0.1]:80",
                          "127.0.0.1:0x50"})
    EXPECT_FALSE(parse_http_address(bad, &host, &port)) << bad;
}

TEST(HttpAddress, Loopback) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(is_loopback_address(yes)) << yes;
  for (const char* no : {"0.0.0.0", "10.0.0.1", "128.0.0.1", "::", "fe80::1", "::ffff:10.0.0.1",
                         "localhost", ""})
    EXPECT_FALSE(is_loopback_address(no)) << no;
}

TEST(Config, Http) {
  std::vector<std::string> problems;
  Config c = parse({}, &problems);
  EXPECT_TRUE(c.http_host.empty());
  EXPECT_FALSE(c.http_allow_remote);

  c = parse({{"PPROF_HTTP", "127.0.0.1:6060"}}, &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.http_host, "127.0.0.1");
  EXPECT_EQ(c.http_port, 6060);

  c = parse({{"PPROF_HTTP", ""}}, &problems);  // empty = unset
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(c.http_host.empty());

  c = parse({{"PPROF_HTTP", "[::1]:7070"}}, &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.http_host, "::1");
  EXPECT_EQ(c.http_port, 7070);

  // Everything else keeps working when the value is bad: one problem, HTTP off.
  c = parse({{"PPROF_HTTP", "127.0.0.1:0"}, {"PPROF_CPU_HZ", "50"}}, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("PPROF_HTTP=\"127.0.0.1:0\" is not valid"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[0].find("127.0.0.1:6060"), std::string::npos) << problems[0];
  EXPECT_TRUE(c.http_host.empty());
  EXPECT_EQ(c.cpu_hz, 50);

  problems.clear();
  c = parse({{"PPROF_HTTP", "0.0.0.0:6060"}}, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("not a loopback address"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("PPROF_HTTP_ALLOW_REMOTE=1"), std::string::npos) << problems[0];
  EXPECT_TRUE(c.http_host.empty());

  problems.clear();
  c = parse({{"PPROF_HTTP", "0.0.0.0:6060"}, {"PPROF_HTTP_ALLOW_REMOTE", "1"}}, &problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(c.http_host, "0.0.0.0");
  EXPECT_TRUE(c.http_allow_remote);

  c = parse({{"PPROF_HTTP", "[::]:6060"}, {"PPROF_HTTP_ALLOW_REMOTE", "0"}}, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(c.http_host.empty());

  problems.clear();
  c = parse({{"PPROF_HTTP", "127.0.0.1:6060"}, {"PPROF_HTTP_ALLOW_REMOTE", "yes"}}, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("PPROF_HTTP_ALLOW_REMOTE=\"yes\""), std::string::npos);
  EXPECT_FALSE(c.http_allow_remote);
  EXPECT_EQ(c.http_host, "127.0.0.1");  // a loopback address needs no permission
}

TEST(Config, ReportFile) {
  std::vector<std::string> problems;
  EXPECT_EQ(parse({{"PPROF_REPORT_FILE", "r.txt"}}, &problems, "/var").report_file, "/var/r.txt");
}

TEST(Config, CacheDir) {
  std::vector<std::string> problems;
  Config c = parse({{"XDG_CACHE_HOME", "/x/cache"}, {"HOME", "/home/u"}}, &problems);
  EXPECT_EQ(c.cache_dir, "/x/cache/ppagent");
  EXPECT_FALSE(c.cache_dir_named);
  // A relative XDG_CACHE_HOME is ignored, as the XDG rules say.
  EXPECT_EQ(parse({{"XDG_CACHE_HOME", "cache"}, {"HOME", "/home/u"}}, &problems).cache_dir,
            "/home/u/.cache/ppagent");
  EXPECT_EQ(parse({{"HOME", "/"}}, &problems).cache_dir, "");
  EXPECT_EQ(parse({}, &problems).cache_dir, "");
  EXPECT_TRUE(problems.empty());

  c = parse({{"PPROF_CACHE_DIR", "/var/cache/pp"}, {"HOME", "/home/u"}}, &problems);
  EXPECT_EQ(c.cache_dir, "/var/cache/pp");
  EXPECT_TRUE(c.cache_dir_named);
  EXPECT_EQ(parse({{"PPROF_CACHE_DIR", "off"}, {"HOME", "/home/u"}}, &problems).cache_dir, "");
  EXPECT_TRUE(problems.empty());

  c = parse({{"PPROF_CACHE_DIR", "rel/dir"}, {"HOME", "/home/u"}}, &problems);
  EXPECT_EQ(c.cache_dir, "");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("PPROF_CACHE_DIR=\"rel/dir\""), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace ppagent
