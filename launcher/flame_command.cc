#include "flame_command.h"

#include <stdio.h>
#include <sys/stat.h>

#include <string>

#include "flame_html.h"
#include "go_flag.h"

namespace ppagent {

namespace {

constexpr int kExitUnreadable = 1;
constexpr int kExitUsage = 2;

constexpr char kFlameHelp[] = R"(Usage: ppagent flame [-sample_index=NAME] [-o OUT.html] FILE

Writes the flame graph of the profile FILE (any pprof profile, gzipped or not)
as one self-contained HTML page that any browser opens offline: click a frame to
zoom, search functions, hover for the function, file:line, value and share.

  -o OUT.html           the page to write (default: FILE.html)
  -sample_index=NAME    the sample type shown first, as in go tool pprof
                        (alloc_space, inuse_objects, cpu, delay, ... or a number);
                        default: the profile's default type. The page can switch.
  -h, --help            show this help

Exit status: 0 written, 1 FILE unreadable or the page not written, 2 usage error.
)";

int usage_error(const std::string& message) {
  fprintf(stderr, "ppagent: %s; try 'ppagent flame --help'\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int flame_command(int argc, char** argv) {
  std::string file, output, sample_index;
  bool output_given = false;
  for (int index = 2; index < argc; index++) {
    const std::string arg = argv[index];
    GoFlag flag;
    if (!parse_go_flag(arg, &flag)) {
      if (!file.empty()) return usage_error("more than one profile (\"" + file + "\", \"" + arg + "\")");
      file = arg;
      continue;
    }
    const std::string& name = flag.name;
    if (name == "h" || name == "help") {
      fputs(kFlameHelp, stdout);
      return 0;
    }
    if (name != "o" && name != "output" && name != "sample_index") {
      return usage_error("unknown option \"" + arg + "\"");
    }
    std::string value;
    if (flag.has_value) {
      value = flag.value;
    } else if (index + 1 < argc) {
      value = argv[++index];
    } else {
      return usage_error("option " + arg + " needs a value");
    }
    if (value.empty()) return usage_error("option -" + name + " needs a value");
    if (name == "sample_index") {
      sample_index = value;
    } else {
      output = value;
      output_given = true;
    }
  }
  if (file.empty()) return usage_error("missing FILE (usage: ppagent flame [-o OUT.html] FILE)");
  if (!output_given) output = file + ".html";
  struct stat in, out;
  if (stat(file.c_str(), &in) == 0 && stat(output.c_str(), &out) == 0 && in.st_dev == out.st_dev &&
      in.st_ino == out.st_ino) {
    return usage_error("-o " + output + " is the profile itself; name another file for the page");
  }

  std::string error;
  bool usage = false;
  if (!write_flame_page(file, sample_index, output, &error, &usage)) {
    if (usage) return usage_error(error);
    fprintf(stderr, "ppagent: %s\n", error.c_str());
    return kExitUnreadable;
  }
  fprintf(stderr, "ppagent: wrote %s\n", output.c_str());
  return 0;
}

}  // namespace ppagent
