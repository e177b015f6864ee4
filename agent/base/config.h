// The agent's configuration, read from the environment once at start.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/signal_spec.h"  // PPROF_DUMP_SIGNAL's grammar

namespace ppagent {

struct Config {
  int cpu_hz = 100;            // PPROF_CPU_HZ: 0 = off
  int wall_hz = 0;             // PPROF_WALL_HZ: wall-clock samples per second; 0 = off
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

struct ProcessFilter;  // base/process_filter.h

// Every variable the agent reads, one row each, in the order it reads them:
// parse_config and parse_process_filter walk the rows (one parser per
// kind), the launcher finds its options and checks their values through the
// same rows, and tests/test_config.cc holds every row against
// ppagent-env(7) and ppagent(1).
enum class VariableKind {
  kInteger,         // decimal, from min to max
  kOctalMode,       // file permissions in octal (parse_file_mode)
  kDumpSignal,      // signal_spec.h's grammar: a signal that can ask for dumps, or none
  kCpuSignal,       // the same grammar: a signal that can carry CPU samples, not the dump signal
  kDirectory,       // an existing writable directory; relative to the working directory at start
  kPath,            // any path; relative to the working directory at start
  kCacheDirectory,  // an absolute directory, or off
  kHostPort,        // HOST:PORT (parse_http_address), loopback unless allowed
  kChoice,          // one of the words in `choices`
  kBoolean,         // 0 or 1
  kNames,           // names separated by commas, none empty, none with '/'
};

// Which part of the agent a row sets: Config, or ProcessFilter (process_filter.h).
enum class VariablePart { kConfig, kProcessFilter };

// A parsed value: `number` for integers, signals, modes, booleans and
// choices (the word's index), `text` for paths and hosts (with the port in
// `number`), `names` for lists.
struct VariableValue {
  long long number = 0;
  std::string text;
  std::vector<std::string> names;
};

struct Variable {
  const char* name;                // PPROF_...
  const char* flag;                // the launcher's option that sets it, or nullptr
  const char* flag_sets;           // an option without a value: the value it sets
  VariableKind kind;
  VariablePart part;
  long long min, max;              // kInteger
  long long default_value;         // what an unset variable gives (not kDirectory,
                                   // kPath, kCacheDirectory, kHostPort, kNames)
  const char* choices;             // kChoice: the words, separated by commas
  const char* documented_default;  // how ppagent-env(7) states the default
  const char* expected;            // its grammar, as a bad value's message says it
  const char* flag_expected;       // as the launcher's usage error says it, if not `expected`
  const char* when_bad;            // what a bad value does
  bool off_when_bad;               // a bad value turns the feature off (0, empty);
                                   // otherwise the default stays
  void (*store)(const VariableValue& value, Config* config, ProcessFilter* filter);
};
extern const Variable kVariables[];
extern const size_t kVariableCount;
// The row of `name`, which must have one.
const Variable& variable(const char* name);

// Returns the value of a variable or nullptr; tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;

// What a row's parser sees besides the text.
struct VariableContext {
  const EnvLookup* env;
  std::string cwd;        // the working directory at start
  const Config* so_far;   // the rows above, already read
  bool for_flags = false; // refusals name the launcher's options, not the variables
};

enum class Verdict { kValid, kMalformed, kRefused };
// Parses `text` (not empty) by the row's kind into *value. kMalformed: not
// in the grammar (a message then says `expected`); kRefused: in it but not
// usable, *refusal says why (what follows the quoted value in a message).
Verdict parse_variable(const Variable& row, const char* text, const VariableContext& context,
                       VariableValue* value, std::string* refusal);

// Reads one row into *config or *filter: unset or empty gives the default;
// a bad value one message in *problems (without the "ppagent: " prefix), and
// the row's `when_bad`.
void read_variable(const Variable& row, const VariableContext& context, Config* config,
                   ProcessFilter* filter, std::vector<std::string>* problems);
// read_variable for every row of `part`, in order.
void read_variables(VariablePart part, const VariableContext& context, Config* config,
                    ProcessFilter* filter, std::vector<std::string>* problems);

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
