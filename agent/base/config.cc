#include "base/config.h"

#include <cerrno>
#include <cctype>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/process_filter.h"

namespace ppagent {

bool parse_int_in_range(const char* text, long long min, long long max, long long* out) {
  if (text == nullptr || *text == '\0') return false;
  const char* p = text;
  if (*p == '-') p++;
  if (*p == '\0') return false;
  for (const char* q = p; *q; q++)
    if (*q < '0' || *q > '9') return false;
  errno = 0;
  char* end = nullptr;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

bool parse_int_in_range(const char* text, long min, long max, long* out) {
  long long v;
  if (!parse_int_in_range(text, static_cast<long long>(min), static_cast<long long>(max), &v))
    return false;
  *out = static_cast<long>(v);
  return true;
}

const char* cpu_signal_problem(int signo) {
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) return nullptr;
  switch (signo) {
    case SIGPROF: case SIGVTALRM: case SIGALRM: case SIGUSR1: case SIGUSR2:
      return nullptr;
    case 0:
      return "CPU sampling needs a signal";
    case SIGKILL: case SIGSTOP:
      return "it cannot be caught";
    case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP: case SIGABRT: case SIGSYS:
      return "it reports a fault, which the agent's handler must not swallow";
    case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGCONT: case SIGCHLD:
      return "it is a job-control or child-status signal";
    default:
      break;
  }
  if (signo > 31 && signo < SIGRTMIN) return "the C library uses it itself";
  // HUP, INT, QUIT, TERM, PIPE, XCPU, XFSZ, URG, WINCH, IO, PWR, STKFLT: the
  // kernel, the terminal or other programs send them with a meaning of their own.
  return "the kernel, the terminal or other programs send it with a meaning of its own";
}

bool parse_http_address(const char* text, std::string* host, int* port) {
  if (text == nullptr) return false;
  std::string value(text);
  std::string address, port_text;
  if (!value.empty() && value[0] == '[') {
    size_t close = value.find(']');
    if (close == std::string::npos || close + 1 >= value.size() || value[close + 1] != ':')
      return false;
    address = value.substr(1, close - 1);
    port_text = value.substr(close + 2);
    struct in6_addr v6;
    if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) return false;
  } else {
    size_t colon = value.rfind(':');
    if (colon == std::string::npos) return false;
    address = value.substr(0, colon);
    port_text = value.substr(colon + 1);
    std::string lower;
    for (char c : address) lower.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
    struct in_addr v4;
    if (lower == "localhost") address = "127.0.0.1";
    else if (inet_pton(AF_INET, address.c_str(), &v4) != 1) return false;
  }
  long number = 0;
  if (port_text.empty() || port_text[0] == '-' ||
      !parse_int_in_range(port_text.c_str(), 1, 65535, &number))
    return false;
  *host = address;
  *port = static_cast<int>(number);
  return true;
}

bool is_loopback_address(const std::string& host) {
  struct in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  struct in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

bool parse_file_mode(const char* text, unsigned* mode) {
  if (text == nullptr || *text == '\0' || strlen(text) > 4) return false;
  unsigned value = 0;
  for (const char* p = text; *p; p++) {
    if (*p < '0' || *p > '7') return false;
    value = value * 8 + static_cast<unsigned>(*p - '0');
  }
  // Owner read+write always; never execute, set-id, sticky or world-writable.
  if ((value & 0600) != 0600 || (value & ~0664u) != 0) return false;
  *mode = value;
  return true;
}

Config::Config() : dump_signal(SIGUSR2) {}

static std::string absolute_path(const std::string& path, const std::string& cwd) {
  if (!path.empty() && path[0] == '/') return path;
  if (cwd.empty()) return std::string();
  return cwd == "/" ? "/" + path : cwd + "/" + path;
}

namespace {

using Value = VariableValue;
constexpr VariablePart kConfigPart = VariablePart::kConfig;
constexpr VariablePart kFilterPart = VariablePart::kProcessFilter;

// ---- one parser per kind ----------------------------------------------------

Verdict parse_integer(const Variable& row, const char* text, Value* value) {
  return parse_int_in_range(text, row.min, row.max, &value->number) ? Verdict::kValid
                                                                     : Verdict::kMalformed;
}

Verdict parse_octal_mode(const char* text, Value* value) {
  unsigned mode = 0;
  if (!parse_file_mode(text, &mode)) return Verdict::kMalformed;
  value->number = mode;
  return Verdict::kValid;
}

Verdict parse_dump_signal_value(const char* text, Value* value, std::string* refusal) {
  int signo = 0;
  if (!parse_signal(text, &signo)) return Verdict::kMalformed;
  if (!usable_as_dump_signal(signo)) {
    *refusal = "cannot be the dump signal (it cannot be caught, reports a fault, or is used by "
               "the C library or the CPU profiler; USR1, USR2 or RTMIN+N can)";
    return Verdict::kRefused;
  }
  value->number = signo;
  return Verdict::kValid;
}

Verdict parse_cpu_signal_value(const char* text, const VariableContext& context, Value* value,
                               std::string* refusal) {
  int signo = 0;
  if (!parse_signal(text, &signo)) return Verdict::kMalformed;
  if (const char* why = cpu_signal_problem(signo)) {
    *refusal = std::string("cannot be the CPU signal (") + why +
               "; PROF, VTALRM, ALRM, USR1, USR2 or a real-time signal such as RTMAX-2 can)";
    return Verdict::kRefused;
  }
  // After PPROF_DUMP_SIGNAL: one signal cannot be both.
  if (signo == context.so_far->dump_signal) {
    *refusal = context.for_flags
                   ? "is also the dump signal; choose another one for either (--dump-signal)"
                   : "is also the dump signal (PPROF_DUMP_SIGNAL); choose another one for either";
    return Verdict::kRefused;
  }
  value->number = signo;
  return Verdict::kValid;
}

Verdict parse_directory(const Variable& row, const char* text, const VariableContext& context,
                        Value* value, std::string* refusal) {
  const std::string path = absolute_path(text, context.cwd);
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *refusal = std::string("is not an existing directory (expected ") + row.expected + ")";
    return Verdict::kRefused;
  }
  if (access(path.c_str(), W_OK | X_OK) != 0) {
    *refusal = std::string("is not writable (expected ") + row.expected + ")";
    return Verdict::kRefused;
  }
  // Resolved once: files go to the directory the path named at start,
  // reached later without following links (output_directory.h).
  char* resolved = realpath(path.c_str(), nullptr);
  value->text = resolved != nullptr ? std::string(resolved) : path;
  free(resolved);
  return Verdict::kValid;
}

Verdict parse_cache_directory(const char* text, Value* value) {
  if (strcmp(text, "off") == 0) return Verdict::kValid;  // no cache
  if (text[0] != '/') return Verdict::kMalformed;
  value->text = text;
  value->number = 1;  // named, not the default
  return Verdict::kValid;
}

Verdict parse_host_port(const char* text, const VariableContext& context, Value* value,
                        std::string* refusal) {
  std::string host;
  int port = 0;
  if (!parse_http_address(text, &host, &port)) return Verdict::kMalformed;
  if (!context.so_far->http_allow_remote && !is_loopback_address(host)) {
    *refusal = std::string("is not a loopback address; anyone who can reach it could read the "
                           "program's arguments and stacks") +
               (context.for_flags ? ": use 127.0.0.1 and SSH forwarding, or add "
                                    "--http-allow-remote to accept the risk"
                                  : ". Use 127.0.0.1 and SSH forwarding, or set "
                                    "PPROF_HTTP_ALLOW_REMOTE=1 to accept the risk");
    return Verdict::kRefused;
  }
  value->text = host;
  value->number = port;
  return Verdict::kValid;
}

// The words of a comma-separated list, empty ones included.
std::vector<std::string> comma_separated(const std::string& text) {
  std::vector<std::string> words;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    words.push_back(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) return words;
    start = comma + 1;
  }
}

Verdict parse_choice(const Variable& row, const char* text, Value* value) {
  const std::vector<std::string> words = comma_separated(row.choices);
  for (size_t i = 0; i < words.size(); i++) {
    if (words[i] == text) {
      value->number = static_cast<long long>(i);
      return Verdict::kValid;
    }
  }
  return Verdict::kMalformed;
}

Verdict parse_boolean(const char* text, Value* value) {
  if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) return Verdict::kMalformed;
  value->number = text[0] - '0';
  return Verdict::kValid;
}

// Program names as the file names use them: no '/', not empty, not . or ..
Verdict parse_names(const char* text, Value* value) {
  value->names = comma_separated(text);
  for (const std::string& name : value->names)
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      return Verdict::kMalformed;
  return Verdict::kValid;
}

// What an unset (or empty) variable gives.
Value default_of(const Variable& row, const VariableContext& context) {
  Value value;
  value.number = row.default_value;
  if (row.kind == VariableKind::kDirectory) value.text = context.cwd;
  if (row.kind == VariableKind::kCacheDirectory) {
    // Only absolute bases: a relative one would follow the program's cwd.
    const char* xdg = (*context.env)("XDG_CACHE_HOME");
    const char* home = (*context.env)("HOME");
    if (xdg != nullptr && xdg[0] == '/') value.text = std::string(xdg) + "/ppagent";
    else if (home != nullptr && home[0] == '/' && home[1] != '\0')
      value.text = std::string(home) + "/.cache/ppagent";
  }
  return value;
}

// ---- what each row sets -------------------------------------------------------

template <typename T>
T as(const Value& value) {
  return static_cast<T>(value.number);
}

}  // namespace

Verdict parse_variable(const Variable& row, const char* text, const VariableContext& context,
                       Value* value, std::string* refusal) {
  switch (row.kind) {
    case VariableKind::kInteger: return parse_integer(row, text, value);
    case VariableKind::kOctalMode: return parse_octal_mode(text, value);
    case VariableKind::kDumpSignal: return parse_dump_signal_value(text, value, refusal);
    case VariableKind::kCpuSignal: return parse_cpu_signal_value(text, context, value, refusal);
    case VariableKind::kDirectory: return parse_directory(row, text, context, value, refusal);
    case VariableKind::kPath:
      value->text = absolute_path(text, context.cwd);
      return Verdict::kValid;
    case VariableKind::kCacheDirectory: return parse_cache_directory(text, value);
    case VariableKind::kHostPort: return parse_host_port(text, context, value, refusal);
    case VariableKind::kChoice: return parse_choice(row, text, value);
    case VariableKind::kBoolean: return parse_boolean(text, value);
    case VariableKind::kNames: return parse_names(text, value);
  }
  return Verdict::kMalformed;
}

// In the order the agent reads them (a row may depend on the rows above).
const Variable kVariables[] = {
    {"PPROF_CPU_HZ", "--cpu-hz", nullptr, VariableKind::kInteger, kConfigPart, 0, 1000, 100,
     nullptr, "the default is 100", "an integer from 0 to 1000; 0 turns CPU profiling off",
     "an integer from 0 to 1000", "CPU profiling is off", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->cpu_hz = as<int>(v); }},
    {"PPROF_WALL_HZ", "--wall-hz", nullptr, VariableKind::kInteger, kConfigPart, 0, 1000, 0,
     nullptr, "the default, 0", "an integer from 0 to 1000; 0 turns wall-clock profiling off",
     "an integer from 0 to 1000", "wall-clock profiling is off", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->wall_hz = as<int>(v); }},
    {"PPROF_OUTPUT_DIR", "--output-dir", nullptr, VariableKind::kDirectory, kConfigPart, 0, 0, 0,
     nullptr, "the default is the working directory at program start",
     "a writable directory", nullptr, "no profiles will be written", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->output_dir = v.text; }},
    {"PPROF_CPU_MAX_STACKS", nullptr, nullptr, VariableKind::kInteger, kConfigPart, 16, 1 << 22,
     65536, nullptr, "the default is 65536", "an integer from 16 to 4194304", nullptr,
     "using the default, 65536", false,
     [](const Value& v, Config* c, ProcessFilter*) { c->cpu_max_stacks = as<long>(v); }},
    {"PPROF_MEM_RATE", "--mem-rate", nullptr, VariableKind::kInteger, kConfigPart, 0, 1L << 30,
     524288, nullptr, "the default is 524288",
     "an integer from 0 to 1073741824: the mean bytes between samples, 1 = every allocation, "
     "0 = off",
     "an integer from 0 to 1073741824", "heap profiling is off", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->mem_rate = as<long>(v); }},
    // The choices in the order of Config::HeapBackend.
    {"PPROF_HEAP_BACKEND", "--heap-backend", nullptr, VariableKind::kChoice, kConfigPart, 0, 0, 0,
     "interpose,jemalloc,auto", "*interpose* (the default", "interpose, jemalloc or auto",
     nullptr, "using interpose", false,
     [](const Value& v, Config* c, ProcessFilter*) {
       c->heap_backend = as<Config::HeapBackend>(v);
     }},
    {"PPROF_DUMP_SIGNAL", "--dump-signal", nullptr, VariableKind::kDumpSignal, kConfigPart, 0, 0,
     SIGUSR2, nullptr, "the default is *usr2*",
     "a signal name such as USR2 or RTMIN+3, a number, or none", nullptr, "no dump signal", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->dump_signal = as<int>(v); }},
    // 0: the agent chooses (cpu_sampler.h).
    {"PPROF_CPU_SIGNAL", "--cpu-signal", nullptr, VariableKind::kCpuSignal, kConfigPart, 0, 0, 0,
     nullptr, "by default the agent takes the highest real-time signal",
     "PROF, VTALRM, ALRM, USR1, USR2, or a real-time signal such as RTMAX, RTMAX-2 or RTMIN+3, "
     "or its number",
     nullptr,
     "using the default, the highest real-time signal that has its default disposition", false,
     [](const Value& v, Config* c, ProcessFilter*) { c->cpu_signal = as<int>(v); }},
    {"PPROF_HEAP_DUMP_INTERVAL", "--heap-dump-interval", nullptr, VariableKind::kInteger,
     kConfigPart, 0, 31536000, 0, nullptr, "the default, 0",
     "seconds, an integer from 0 to 31536000; 0 = off", "an integer from 0 to 31536000",
     "no periodic heap dumps", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->heap_dump_interval = as<long>(v); }},
    {"PPROF_FLUSH_INTERVAL", "--flush-interval", nullptr, VariableKind::kInteger, kConfigPart, 0,
     31536000, 0, nullptr, "the default, 0", "seconds, an integer from 0 to 31536000; 0 = off",
     "an integer from 0 to 31536000", "no periodic flush", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->flush_interval = as<long>(v); }},
    {"PPROF_HEAP_DUMP_BYTES", "--heap-dump-bytes", nullptr, VariableKind::kInteger, kConfigPart, 0,
     1LL << 62, 0, nullptr, "the default, 0",
     "bytes, an integer from 0 to 4611686018427387904; 0 = off", "an integer from 0 to 2^62",
     "no heap dumps by bytes allocated", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->heap_dump_bytes = v.number; }},
    {"PPROF_MUTEX_FRACTION", "--mutex-fraction", nullptr, VariableKind::kInteger, kConfigPart, 0,
     1000000000, 0, nullptr, "the default, 0",
     "an integer from 0 to 1000000000: 1 in n contention events is recorded, 0 = off",
     "an integer from 0 to 1000000000", "mutex profiling is off", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->mutex_fraction = as<long>(v); }},
    {"PPROF_BLOCK_RATE", "--block-rate", nullptr, VariableKind::kInteger, kConfigPart, 0,
     1000000000000LL, 0, nullptr, "the default, 0",
     "nanoseconds, an integer from 0 to 1000000000000; 0 = off",
     "an integer from 0 to 1000000000000", "block profiling is off", true,
     [](const Value& v, Config* c, ProcessFilter*) { c->block_rate = v.number; }},
    // Before PPROF_HTTP, which it allows to bind a non-loopback address.
    {"PPROF_HTTP_ALLOW_REMOTE", "--http-allow-remote", "1", VariableKind::kBoolean, kConfigPart, 0,
     0, 0, nullptr, "*0* or unset: loopback only",
     "1 to let PPROF_HTTP bind a non-loopback address, or 0", nullptr,
     "only loopback addresses are allowed", false,
     [](const Value& v, Config* c, ProcessFilter*) { c->http_allow_remote = v.number != 0; }},
    {"PPROF_HTTP", "--http", nullptr, VariableKind::kHostPort, kConfigPart, 0, 0, 0, nullptr,
     "unset or empty: no endpoint",
     "HOST:PORT with an IPv4 address, [IPv6 address] or localhost and a port from 1 to 65535, "
     "e.g. 127.0.0.1:6060",
     nullptr, "the live endpoint is off", true,
     [](const Value& v, Config* c, ProcessFilter*) {
       c->http_host = v.text;
       c->http_port = as<int>(v);
     }},
    {"PPROF_FILE_MODE", "--file-mode", nullptr, VariableKind::kOctalMode, kConfigPart, 0, 0, 0600,
     nullptr, "the default is *0600*",
     "octal permissions from 0600 to 0664: the owner reads and writes, nobody executes, others "
     "never write; e.g. 0640",
     "octal from 0600 to 0664: owner reads and writes, no execute, others never write, e.g. 0640",
     "using 0600", false,
     [](const Value& v, Config* c, ProcessFilter*) { c->file_mode = as<unsigned>(v); }},
    // Set by the launcher itself, never by an option.
    {"PPROF_REPORT_FILE", nullptr, nullptr, VariableKind::kPath, kConfigPart, 0, 0, 0, nullptr,
     "optional.", "a path", nullptr, "", false,
     [](const Value& v, Config* c, ProcessFilter*) { c->report_file = v.text; }},
    {"PPROF_CACHE_DIR", nullptr, nullptr, VariableKind::kCacheDirectory, kConfigPart, 0, 0, 0,
     nullptr, "the default is _$xdg_cache_home_/ppagent", "an absolute directory, or off",
     nullptr, "the debug-section cache is off", true,
     [](const Value& v, Config* c, ProcessFilter*) {
       c->cache_dir = v.text;
       c->cache_dir_named = v.number != 0;
     }},
    {"PPROF_CHILDREN", "--no-children", "0", VariableKind::kBoolean, kFilterPart, 0, 0, 1, nullptr,
     "*1* (the default)", "0: profile only the first process, or 1: its children too", nullptr,
     "children are profiled", false,
     [](const Value& v, Config*, ProcessFilter* f) { f->children = v.number != 0; }},
    {"PPROF_PROGRAMS", "--only", nullptr, VariableKind::kNames, kFilterPart, 0, 0, 0, nullptr,
     "unset or empty: every program",
     "program names separated by commas, without '/' or empty names",
     "program names separated by commas, e.g. nginx,php-fpm; no '/' and no empty name",
     "every program is profiled", false,
     [](const Value& v, Config*, ProcessFilter* f) { f->programs = v.names; }},
};
const size_t kVariableCount = sizeof kVariables / sizeof kVariables[0];

const Variable& variable(const char* name) {
  for (const Variable& row : kVariables)
    if (strcmp(row.name, name) == 0) return row;
  abort();  // a name without a row is the agent's own mistake
}

void read_variable(const Variable& row, const VariableContext& context, Config* config,
                   ProcessFilter* filter, std::vector<std::string>* problems) {
  const char* text = (*context.env)(row.name);
  // Unset or empty (as systemd's Environment=NAME= suggests): the default.
  if (text == nullptr || *text == '\0') {
    row.store(default_of(row, context), config, filter);
    return;
  }
  Value value;
  std::string refusal;
  const Verdict verdict = parse_variable(row, text, context, &value, &refusal);
  if (verdict == Verdict::kValid) {
    row.store(value, config, filter);
    return;
  }
  if (verdict == Verdict::kMalformed)
    refusal = std::string("is not valid (expected ") + row.expected + ")";
  problems->push_back(std::string(row.name) + "=\"" + text + "\" " + refusal + "; " +
                      row.when_bad);
  row.store(row.off_when_bad ? Value() : default_of(row, context), config, filter);
}

void read_variables(VariablePart part, const VariableContext& context, Config* config,
                    ProcessFilter* filter, std::vector<std::string>* problems) {
  for (const Variable& row : kVariables)
    if (row.part == part) read_variable(row, context, config, filter, problems);
}

Config parse_config(const EnvLookup& env, const std::string& cwd,
                    std::vector<std::string>* problems) {
  Config config;
  read_variables(VariablePart::kConfig, VariableContext{&env, cwd, &config}, &config, nullptr,
                 problems);
  return config;
}

}  // namespace ppagent
