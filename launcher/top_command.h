// `ppagent top [OPTIONS] FILE`: prints a profile's functions by flat or cum
// value, as `go tool pprof -top` does, without Go (top_report.h).
#pragma once

namespace ppagent {

// argv[1] is "top". Returns the exit status: 0 printed, 1 the file could not be
// read as a profile, 2 usage error (including an option the profile does not
// fit, such as an unknown -sample_index).
int top_command(int argc, char** argv);

}  // namespace ppagent
