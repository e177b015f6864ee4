// The agent's configuration, read from the environment once at start.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/signal_spec.h"  // PPROF_DUMP_SIGNAL's grammar

namespace ppagent {

struct Config {
  int cpu_hz = 100;            // PPROF_CPU_HZ: 0 = off
  std::string output_dir;      // PPROF_OUTPUT_DIR, absolute; empty = profiles cannot be written
  std::string report_file;     // PPROF_REPORT_FILE: written paths are appended here
  unsigned file_mode = 0600;   // PPROF_FILE_MODE: permissions of profile files (octal)
  long cpu_max_stacks = 65536; // PPROF_CPU_MAX_STACKS: distinct (thread, stack) pairs kept
  long mem_rate = 524288;      // PPROF_MEM_RATE: mean bytes between heap samples; 0 = off
  // PPROF_HEAP_BACKEND: who samples the heap. kAuto: jemalloc when the program
  // runs on a jemalloc whose profiling is on, else the interposed malloc.
  enum class HeapBackend { kInterpose, kJemalloc, kAuto };
  HeapBackend heap_backend = HeapBackend::kInterpose;
  int dump_signal;             // PPROF_DUMP_SIGNAL: 0 = none (default SIGUSR2)
  int cpu_signal = 0;          // PPROF_CPU_SIGNAL: 0 = the agent chooses (cpu_sampler.h)
  long heap_dump_interval = 0; // PPROF_HEAP_DUMP_INTERVAL: seconds; 0 = off
  long long heap_dump_bytes = 0;  // PPROF_HEAP_DUMP_BYTES: allocated bytes; 0 = off
  long flush_interval = 0;     // PPROF_FLUSH_INTERVAL: seconds between rewrites of the
                               // running profiles under their final names; 0 = off
  long mutex_fraction = 0;     // PPROF_MUTEX_FRACTION: 1 in n contention events; 0 = off
  long long block_rate = 0;    // PPROF_BLOCK_RATE: nanoseconds; 0 = off
  // PPROF_HTTP: the live /debug/pprof endpoint. http_host is the IPv4 or IPv6
  // literal to bind ("localhost" becomes 127.0.0.1); empty = off.
  std::string http_host;
  int http_port = 0;
  bool http_allow_remote = false;  // PPROF_HTTP_ALLOW_REMOTE=1: any address, not only loopback
  // PPROF_CACHE_DIR: where compressed debug sections are kept inflated for
  // later processes (symbols/inflated_section_cache.h). Absolute; empty = no
  // cache. By default $XDG_CACHE_HOME/ppagent, else $HOME/.cache/ppagent.
  std::string cache_dir;
  bool cache_dir_named = false;  // set by PPROF_CACHE_DIR rather than by default

  Config();
};

// The integer variables, one row each: parse_config reads them by their row,
// the launcher checks its flags against the same ranges, and
// tests/test_config.cc holds every row against ppagent-env(7).
struct IntegerVariable {
  const char* name;        // PPROF_...
  const char* flag;        // the launcher's option that sets it, or nullptr
  long long min, max;
  long long default_value; // what Config holds when it is unset
  const char* expected;    // its grammar, as a bad value's message says it
  const char* when_bad;    // what a bad value does
  bool off_when_bad;       // a bad value sets 0 (off); otherwise the default stays
};
extern const IntegerVariable kIntegerVariables[];
extern const size_t kIntegerVariableCount;
// The row of `name`, which must have one.
const IntegerVariable& integer_variable(const char* name);

// Returns the value of a variable or nullptr; tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;

// Parses the environment. Every problem becomes one complete message (without
// the "ppagent: " prefix) in *problems; the affected feature is turned off and
// everything else keeps working. `cwd` is the working directory at start.
Config parse_config(const EnvLookup& env, const std::string& cwd,
                    std::vector<std::string>* problems);

// Why `signo` cannot carry the CPU timers' samples and the threads profile's
// requests, or nullptr if it can: PROF, VTALRM, ALRM, USR1, USR2 and the
// real-time signals SIGRTMIN..SIGRTMAX can.
const char* cpu_signal_problem(int signo);

// Strict decimal integer in [min, max]: no sign other than a leading '-', no
// spaces, no trailing characters. Returns false if malformed or out of range.
bool parse_int_in_range(const char* text, long min, long max, long* out);
bool parse_int_in_range(const char* text, long long min, long long max, long long* out);

// PPROF_FILE_MODE: octal digits (at most 4) giving a mode that includes 0600
// and nothing outside 0664. False if malformed or not allowed.
bool parse_file_mode(const char* text, unsigned* mode);

// "HOST:PORT" for PPROF_HTTP: an IPv4 literal, "[IPv6]" or "localhost", and a
// port 1..65535. *host gets the address literal to bind. False if malformed.
bool parse_http_address(const char* text, std::string* host, int* port);
// 127.0.0.0/8 or ::1 (also ::ffff:127.x.y.z).
bool is_loopback_address(const std::string& host);

}  // namespace ppagent
