// The agent's configuration, read from the environment once at start.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ppagent {

struct Config {
  int cpu_hz = 100;            // PPROF_CPU_HZ: 0 = off
  std::string output_dir;      // PPROF_OUTPUT_DIR, absolute; empty = profiles cannot be written
  std::string report_file;     // PPROF_REPORT_FILE: written paths are appended here
  long cpu_max_stacks = 65536; // PPROF_CPU_MAX_STACKS: distinct (thread, stack) pairs kept
};

// Returns the value of a variable or nullptr; tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;

// Parses the environment. Every problem becomes one complete message (without
// the "ppagent: " prefix) in *problems; the affected feature is turned off and
// everything else keeps working. `cwd` is the working directory at start.
Config parse_config(const EnvLookup& env, const std::string& cwd,
                    std::vector<std::string>* problems);

// Strict decimal integer in [min, max]: no sign other than a leading '-', no
// spaces, no trailing characters. Returns false if malformed or out of range.
bool parse_int_in_range(const char* text, long min, long max, long* out);

}  // namespace ppagent
