#include "top_command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "go_flag.h"
#include "profile_reader.h"
#include "top_report.h"

namespace ppagent {
namespace {

constexpr int kPrinted = 0;
constexpr int kUnreadable = 1;
constexpr int kUsage = 2;

constexpr char kUsageLine[] = "usage: ppagent top [OPTIONS] FILE";

constexpr char kTopHelp[] = R"(Usage: ppagent top [OPTIONS] FILE

Prints the functions of the profile FILE (profile.proto, gzipped or not, from
ppagent, Go or another producer) with their flat and cumulative values, as
`go tool pprof -top FILE` does, with the same numbers. Go is not needed.

Options (pprof's spellings; -opt=value or -opt value, one or two dashes):
  -nodecount=N          show at most N rows (default: all)
  -sample_index=NAME    the value to show: a sample type (alloc_space,
                        inuse_objects, ...) or its index; default: the
                        profile's default type, else the last one
  -cum                  sort by cumulative value instead of flat
  -focus=REGEX          only samples with a function, source file or mapping
                        file that matches REGEX
  -tagfocus=[KEY=]VALUE only samples with a label that matches: a regex, or a
                        numeric range such as 1kb:4mb or 10ms:
  -h, --help            this help

Exit status: 0 printed, 1 FILE is not a readable profile, 2 usage error.
)";

int usage(const std::string& message) {
  fprintf(stderr, "ppagent: %s (%s)\n", message.c_str(), kUsageLine);
  return kUsage;
}

bool parse_count(const std::string& text, int* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long value = strtol(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || value < -1000000000L || value > 1000000000L) return false;
  *out = static_cast<int>(value);
  return true;
}

bool parse_bool(const std::string& text, bool* out) {
  if (text == "true" || text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "True") {
    *out = true;
    return true;
  }
  if (text == "false" || text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "False") {
    *out = false;
    return true;
  }
  return false;
}

}  // namespace

int top_command(int argc, char** argv) {
  profile::TopOptions options;
  std::string file;
  bool have_file = false, options_done = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    GoFlag flag;
    if (options_done || !parse_go_flag(arg, &flag)) {
      if (have_file) return usage("more than one FILE: \"" + file + "\" and \"" + arg + "\"");
      file = arg;
      have_file = true;
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const std::string& name = flag.name;
    std::string value = flag.value;
    const bool has_value = flag.has_value;
    if (name == "h" || name == "help") {
      fputs(kTopHelp, stdout);
      return kPrinted;
    }
    if (name == "cum") {
      if (has_value && !parse_bool(value, &options.cum))
        return usage("-cum takes no value, or true or false, not \"" + value + "\"");
      if (!has_value) options.cum = true;
      continue;
    }
    if (name != "nodecount" && name != "sample_index" && name != "focus" && name != "tagfocus")
      return usage("unknown option \"" + arg + "\"");
    if (!has_value) {
      if (i + 1 >= argc) return usage("option -" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "nodecount") {
      if (!parse_count(value, &options.nodecount))
        return usage("-nodecount needs a whole number, not \"" + value + "\"");
    } else if (name == "sample_index") {
      options.sample_index = value;
    } else if (name == "focus") {
      options.filter.focus = value;
    } else {
      options.filter.tagfocus = value;
    }
  }
  if (!have_file) return usage("missing FILE");

  profile::Profile profile;
  std::string error;
  if (!profile::read_profile(file, &profile, &error)) {
    fprintf(stderr, "ppagent: %s\n", error.c_str());
    return kUnreadable;
  }
  if (profile.sample_types.empty()) {
    // Not an option's fault: pprof refuses such a file too ("profile has no samples").
    fprintf(stderr, "ppagent: %s: the profile has no sample types, so no values to show\n",
            file.c_str());
    return kUnreadable;
  }
  std::string text;
  if (!profile::top_report(profile, options, &text, &error)) return usage(error);
  fwrite(text.data(), 1, text.size(), stdout);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "ppagent: cannot write the report: %s\n", strerror(errno));
    return kUnreadable;
  }
  return kPrinted;
}

}  // namespace ppagent
