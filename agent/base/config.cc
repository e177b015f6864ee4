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

const IntegerVariable kIntegerVariables[] = {
    {"PPROF_CPU_HZ", "--cpu-hz", 0, 1000, 100,
     "an integer from 0 to 1000; 0 turns CPU profiling off", "CPU profiling is off", true},
    {"PPROF_CPU_MAX_STACKS", nullptr, 16, 1 << 22, 65536, "an integer from 16 to 4194304",
     "using the default, 65536", false},
    {"PPROF_MEM_RATE", "--mem-rate", 0, 1L << 30, 524288,
     "an integer from 0 to 1073741824: the mean bytes between samples, 1 = every allocation, "
     "0 = off",
     "heap profiling is off", true},
    {"PPROF_HEAP_DUMP_INTERVAL", "--heap-dump-interval", 0, 31536000, 0,
     "seconds, an integer from 0 to 31536000; 0 = off", "no periodic heap dumps", true},
    {"PPROF_FLUSH_INTERVAL", "--flush-interval", 0, 31536000, 0,
     "seconds, an integer from 0 to 31536000; 0 = off", "no periodic flush", true},
    {"PPROF_HEAP_DUMP_BYTES", "--heap-dump-bytes", 0, 1LL << 62, 0,
     "bytes, an integer from 0 to 4611686018427387904; 0 = off", "no heap dumps by bytes allocated",
     true},
    {"PPROF_MUTEX_FRACTION", "--mutex-fraction", 0, 1000000000, 0,
     "an integer from 0 to 1000000000: 1 in n contention events is recorded, 0 = off",
     "mutex profiling is off", true},
    {"PPROF_BLOCK_RATE", "--block-rate", 0, 1000000000000LL, 0,
     "nanoseconds, an integer from 0 to 1000000000000; 0 = off", "block profiling is off", true},
};
const size_t kIntegerVariableCount = sizeof kIntegerVariables / sizeof kIntegerVariables[0];

const IntegerVariable& integer_variable(const char* name) {
  for (const IntegerVariable& row : kIntegerVariables)
    if (strcmp(row.name, name) == 0) return row;
  abort();  // a name without a row is the agent's own mistake
}

// Unset or empty (as systemd's Environment=NAME= suggests) leaves *value as
// it is; a malformed value or one outside the row's range is reported as
// NAME="text" is not valid (expected ...); what it does.
template <typename T>
void read_integer(const EnvLookup& env, const char* name, T* value,
                  std::vector<std::string>* problems) {
  const IntegerVariable& row = integer_variable(name);
  const char* text = env(name);
  if (text == nullptr || *text == '\0') return;
  long long v = 0;
  if (parse_int_in_range(text, row.min, row.max, &v)) {
    *value = static_cast<T>(v);
    return;
  }
  if (row.off_when_bad) *value = 0;
  problems->push_back(std::string(name) + "=\"" + text + "\" is not valid (expected " +
                      row.expected + "); " + row.when_bad);
}

Config parse_config(const EnvLookup& env, const std::string& cwd,
                    std::vector<std::string>* problems) {
  Config config;

  read_integer(env, "PPROF_CPU_HZ", &config.cpu_hz, problems);

  const char* dir = env("PPROF_OUTPUT_DIR");
  if (dir != nullptr && *dir != '\0') {
    std::string path = absolute_path(dir, cwd);
    struct stat st;
    if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      problems->push_back(std::string("PPROF_OUTPUT_DIR=\"") + dir +
                          "\" is not an existing directory (expected a writable "
                          "directory); no profiles will be written");
    } else if (access(path.c_str(), W_OK | X_OK) != 0) {
      problems->push_back(std::string("PPROF_OUTPUT_DIR=\"") + dir +
                          "\" is not writable (expected a writable directory); "
                          "no profiles will be written");
    } else {
      // Resolved once: files go to the directory the path named at start,
      // reached later without following links (output_directory.h).
      char* resolved = realpath(path.c_str(), nullptr);
      config.output_dir = resolved != nullptr ? std::string(resolved) : path;
      free(resolved);
    }
  } else {
    config.output_dir = cwd;
  }

  read_integer(env, "PPROF_CPU_MAX_STACKS", &config.cpu_max_stacks, problems);
  read_integer(env, "PPROF_MEM_RATE", &config.mem_rate, problems);

  const char* backend = env("PPROF_HEAP_BACKEND");
  if (backend != nullptr && *backend != '\0') {
    if (strcmp(backend, "interpose") == 0) config.heap_backend = Config::HeapBackend::kInterpose;
    else if (strcmp(backend, "jemalloc") == 0) config.heap_backend = Config::HeapBackend::kJemalloc;
    else if (strcmp(backend, "auto") == 0) config.heap_backend = Config::HeapBackend::kAuto;
    else
      problems->push_back(std::string("PPROF_HEAP_BACKEND=\"") + backend +
                          "\" is not valid (expected interpose, jemalloc or auto); using "
                          "interpose");
  }

  const char* dump_signal = env("PPROF_DUMP_SIGNAL");
  if (dump_signal != nullptr && *dump_signal != '\0') {
    int signo = 0;
    if (!parse_signal(dump_signal, &signo)) {
      config.dump_signal = 0;
      problems->push_back(std::string("PPROF_DUMP_SIGNAL=\"") + dump_signal +
                          "\" is not valid (expected a signal name such as USR2 or RTMIN+3, a "
                          "number, or none); no dump signal");
    } else if (!usable_as_dump_signal(signo)) {
      config.dump_signal = 0;
      problems->push_back(std::string("PPROF_DUMP_SIGNAL=\"") + dump_signal +
                          "\" cannot be the dump signal (it cannot be caught, reports a fault, "
                          "or is used by the C library or the CPU profiler; USR1, USR2 or "
                          "RTMIN+N can); no dump signal");
    } else {
      config.dump_signal = signo;
    }
  }

  // After PPROF_DUMP_SIGNAL: one signal cannot be both.
  const char* cpu_signal = env("PPROF_CPU_SIGNAL");
  if (cpu_signal != nullptr && *cpu_signal != '\0') {
    static const char kDefault[] =
        "; using the default, the highest real-time signal that has its default disposition";
    int signo = 0;
    const char* why = nullptr;
    if (!parse_signal(cpu_signal, &signo)) {
      problems->push_back(std::string("PPROF_CPU_SIGNAL=\"") + cpu_signal +
                          "\" is not valid (expected PROF, VTALRM, ALRM, USR1, USR2, or a "
                          "real-time signal such as RTMAX, RTMAX-2 or RTMIN+3, or its number)" +
                          kDefault);
    } else if ((why = cpu_signal_problem(signo)) != nullptr) {
      problems->push_back(std::string("PPROF_CPU_SIGNAL=\"") + cpu_signal +
                          "\" cannot be the CPU signal (" + why + "; PROF, VTALRM, ALRM, USR1, "
                          "USR2 or a real-time signal such as RTMAX-2 can)" + kDefault);
    } else if (signo == config.dump_signal) {
      problems->push_back(std::string("PPROF_CPU_SIGNAL=\"") + cpu_signal +
                          "\" is also the dump signal (PPROF_DUMP_SIGNAL); choose another one "
                          "for either" + kDefault);
    } else {
      config.cpu_signal = signo;
    }
  }

  read_integer(env, "PPROF_HEAP_DUMP_INTERVAL", &config.heap_dump_interval, problems);
  read_integer(env, "PPROF_FLUSH_INTERVAL", &config.flush_interval, problems);
  read_integer(env, "PPROF_HEAP_DUMP_BYTES", &config.heap_dump_bytes, problems);
  read_integer(env, "PPROF_MUTEX_FRACTION", &config.mutex_fraction, problems);
  read_integer(env, "PPROF_BLOCK_RATE", &config.block_rate, problems);

  const char* allow_remote = env("PPROF_HTTP_ALLOW_REMOTE");
  if (allow_remote != nullptr && *allow_remote != '\0') {
    if (strcmp(allow_remote, "1") == 0) {
      config.http_allow_remote = true;
    } else if (strcmp(allow_remote, "0") != 0) {
      problems->push_back(std::string("PPROF_HTTP_ALLOW_REMOTE=\"") + allow_remote +
                          "\" is not valid (expected 1 to let PPROF_HTTP bind a non-loopback "
                          "address, or 0); only loopback addresses are allowed");
    }
  }

  const char* http = env("PPROF_HTTP");
  if (http != nullptr && *http != '\0') {
    std::string host;
    int port = 0;
    if (!parse_http_address(http, &host, &port)) {
      problems->push_back(std::string("PPROF_HTTP=\"") + http +
                          "\" is not valid (expected HOST:PORT with an IPv4 address, [IPv6 "
                          "address] or localhost and a port from 1 to 65535, e.g. "
                          "127.0.0.1:6060); the live endpoint is off");
    } else if (!config.http_allow_remote && !is_loopback_address(host)) {
      problems->push_back(std::string("PPROF_HTTP=\"") + http +
                          "\" is not a loopback address; anyone who can reach it could read "
                          "the program's arguments and stacks. Use 127.0.0.1 and SSH forwarding, "
                          "or set PPROF_HTTP_ALLOW_REMOTE=1 to accept the risk; the live "
                          "endpoint is off");
    } else {
      config.http_host = host;
      config.http_port = port;
    }
  }

  const char* file_mode = env("PPROF_FILE_MODE");
  if (file_mode != nullptr && *file_mode != '\0' && !parse_file_mode(file_mode, &config.file_mode))
    problems->push_back(std::string("PPROF_FILE_MODE=\"") + file_mode +
                        "\" is not valid (expected octal permissions from 0600 to 0664: the owner "
                        "reads and writes, nobody executes, others never write; e.g. 0640); "
                        "using 0600");

  if (const char* report = env("PPROF_REPORT_FILE"))
    if (*report != '\0') config.report_file = absolute_path(report, cwd);

  const char* cache = env("PPROF_CACHE_DIR");
  if (cache != nullptr && *cache != '\0') {
    if (strcmp(cache, "off") == 0) {
      // no cache
    } else if (cache[0] == '/') {
      config.cache_dir = cache;
      config.cache_dir_named = true;
    } else {
      problems->push_back(std::string("PPROF_CACHE_DIR=\"") + cache +
                          "\" is not valid (expected an absolute directory, or off); "
                          "the debug-section cache is off");
    }
  } else {
    // Only absolute bases: a relative one would follow the program's cwd.
    const char* xdg = env("XDG_CACHE_HOME");
    const char* home = env("HOME");
    if (xdg != nullptr && xdg[0] == '/') config.cache_dir = std::string(xdg) + "/ppagent";
    else if (home != nullptr && home[0] == '/' && home[1] != '\0')
      config.cache_dir = std::string(home) + "/.cache/ppagent";
  }

  return config;
}

}  // namespace ppagent
