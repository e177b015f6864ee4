// ppagent: runs a program with the profiler agent (libppagent.so) preloaded, then
// prints the profiles the agent wrote. Interface: `ppagent --help` and the man page.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "base/config.h"  // agent/: the variables (kVariables) and their parsers
#include "base/process_filter.h"  // agent/: ProcessFilter, which --no-children and --only set
#include "base/signal_spec.h"
#include "dump.h"
#include "elf_check.h"
#include "flame_command.h"
#include "flame_html.h"
#include "jemalloc_conf.h"
#include "launcher_config.h"  // PPAGENT_VERSION, PPAGENT_AGENT_FROM_BINDIR
#include "top_command.h"

namespace {

// The launcher's own exit statuses; any other status is the program's.
constexpr int kExitUsage = 2;
constexpr int kExitAgentNotFound = 124;
constexpr int kExitStaticProgram = 125;
constexpr int kExitCannotExecute = 126;
constexpr int kExitNotFound = 127;

constexpr char kRunSynopsis[] = "ppagent run [OPTIONS] [--] PROGRAM [ARGS...]";

constexpr char kHelp[] = R"(Usage: ppagent run [OPTIONS] [--] PROGRAM [ARGS...]
       ppagent dump PID
       ppagent top [OPTIONS] FILE
       ppagent flame [-sample_index=NAME] [-o OUT.html] FILE
       ppagent --help
       ppagent --version

ppagent run runs PROGRAM with the ppagent profiler loaded into it (LD_PRELOAD),
waits for it, prints "ppagent: wrote <file>" for every profile written, and exits
with PROGRAM's exit status. PROGRAM is searched for in PATH unless it contains a '/'.

Options of run (before PROGRAM):
  --cpu-hz N              CPU sampling rate in Hz, an integer from 0 to 1000
                          (0 turns CPU profiling off; default 100)
  --cpu-signal SIG        signal the CPU timers deliver: PROF (Go's convention),
                          VTALRM, ALRM, USR1, USR2 or a real-time signal (RTMAX,
                          RTMAX-2, RTMIN+3, a number); default: the highest
                          real-time signal the program has not claimed at start
                          (SIGRTMAX), since many programs handle SIGPROF
  --mem-rate N            heap sampling rate: on average one sample every N bytes
                          allocated, an integer from 0 to 1073741824 (1 samples
                          every allocation; 0 turns heap profiling off;
                          default 524288)
  --heap-backend NAME     who samples the heap: interpose (the agent's malloc
                          wrappers; default), jemalloc (jemalloc's own sampler,
                          for programs that run on jemalloc: profiling is turned
                          on through MALLOC_CONF, at the power of two nearest to
                          the --mem-rate) or auto (jemalloc when the program runs
                          on a jemalloc with profiling, else interpose)
  --mutex-fraction N      mutex profile: on average 1 in N contention events on a
                          mutex or rwlock is recorded and counted N times, an
                          integer from 0 to 1000000000 (1 records every event;
                          default 0: mutex profiling off)
  --block-rate NS         block profile: every wait of NS nanoseconds or more is
                          recorded, a shorter one with probability (its length)/NS,
                          an integer from 0 to 1000000000000 (1 records every
                          wait; default 0: block profiling off)
  --wall-hz N             wall-clock profile: every thread sampled N times a
                          second of real time, running or waiting, an integer
                          from 0 to 1000 (default 0: off)
  --dump-signal SIG       signal that makes the program write a dump of its heap,
                          mutex and block profiles while it runs: a name (USR2,
                          SIGUSR1, RTMIN+3, ...), a number, or none (default USR2)
  --heap-dump-interval SECONDS
                          also write a dump every SECONDS seconds, an integer
                          from 0 to 31536000 (default 0: never)
  --heap-dump-bytes N     also write a dump each time another N bytes have been
                          allocated, an integer from 0 to 2^62 (default 0: never)
  --file-mode MODE        permissions of the profile files, octal from 0600 to
                          0664: owner reads and writes, no execute, others never
                          write (default 0600)
  --flush-interval SECONDS
                          every SECONDS seconds rewrite the profiles written at
                          exit (cpu, heap, allocs, mutex, block, wall) under their
                          final names, so a kill or crash loses at most one
                          interval, an integer from 0 to 31536000 (default 0: never)
  --http HOST:PORT        serve the live /debug/pprof endpoint on HOST:PORT (an
                          IPv4 address, [IPv6 address] or localhost; loopback
                          only unless --http-allow-remote), for go tool pprof
                          http://HOST:PORT/debug/pprof/heap and the like
  --http-allow-remote     let --http bind a non-loopback address: anyone who can
                          reach it can read the program's arguments and stacks
                          (prefer 127.0.0.1 and ssh -L 6060:127.0.0.1:6060 HOST)
  --no-children           profile only PROGRAM itself: not the programs it runs
                          (the agent takes itself out of their LD_PRELOAD) nor
                          the processes it forks
  --only NAME[,NAME...]   profile only processes whose program name (basename of
                          argv[0], as in the profile file names) is one of these;
                          others run with the agent loaded but inert, so that
                          their matching children are still profiled
  -o, --output-dir DIR    existing writable directory for the profiles
                          (default: the working directory)
      --flame             after PROGRAM exits, also write each profile's flame
                          graph next to it as <profile>.html (ppagent flame)
  -h, --help              show this help
      --version           show the version and the agent library in use

ppagent dump PID sends its dump signal to the process PID, which runs with the
agent, so that it writes a dump and runs on: the profiles that are on, as
<program>.<pid>.heap.<n>.pb.gz, .allocs.<n>.pb.gz, .mutex.<n>.pb.gz,
.block.<n>.pb.gz and .wall.<n>.pb.gz. PID may also be that of a `ppagent run`.

ppagent top FILE prints the functions of a profile with their flat and
cumulative values, as `go tool pprof -top` does, without Go; options:
-nodecount=N, -sample_index=NAME, -cum, -focus=REGEX, -tagfocus=KEY=VALUE
(`ppagent top --help`).

ppagent flame FILE writes the flame graph of a profile as one self-contained HTML
page, FILE.html or the file given with -o OUT.html, that any browser opens offline;
option: -sample_index=NAME (`ppagent flame --help`).

Environment:
  PPROF_CPU_HZ, PPROF_CPU_SIGNAL, PPROF_MEM_RATE, PPROF_MUTEX_FRACTION, PPROF_BLOCK_RATE,
  PPROF_WALL_HZ,
  PPROF_DUMP_SIGNAL, PPROF_HEAP_DUMP_INTERVAL, PPROF_HEAP_DUMP_BYTES,
  PPROF_FLUSH_INTERVAL,
  PPROF_OUTPUT_DIR, PPROF_HTTP, PPROF_HTTP_ALLOW_REMOTE, PPROF_CHILDREN,
  PPROF_PROGRAMS, PPROF_HEAP_BACKEND
                      read by the agent; the options above set them, and an
                      option not given leaves the environment's value
  PPROF_FLAME         read by ppagent run, not the agent: 1 acts as --flame, 0 or
                      empty does not
  PPROF_REPORT_FILE   set by ppagent: a temporary file (in $TMPDIR, default /tmp)
                      where the agent lists the profiles it writes
  LD_PRELOAD          ppagent puts the agent first; an existing value is kept after it
  MALLOC_CONF         with the jemalloc or auto heap backend, ppagent puts jemalloc's
                      profiling options first; an existing value is kept after them

Signals: SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 and the dump signal sent to
ppagent run by another process are passed on to PROGRAM. (Those typed at the
terminal reach PROGRAM directly.)

Exit status of run:
  PROGRAM's exit status, or 128+N if PROGRAM was killed by signal N; otherwise
  2    usage error (unknown option, bad option value, missing PROGRAM)
  124  the agent library libppagent.so was not found
  125  PROGRAM is a statically linked executable: LD_PRELOAD cannot work there
  126  PROGRAM exists but cannot be executed (no permission, a directory,
       a missing #! or ELF interpreter, ...)
  127  PROGRAM was not found

Exit status of dump:
  0    the signal was sent
  1    nothing was sent: no such process, not running the agent, no dump signal
       (none) or no handler for it, or permission denied
  2    usage error
)";

[[noreturn]] void die(int status, const std::string& message) {
  fprintf(stderr, "ppagent: %s\n", message.c_str());
  exit(status);
}

[[noreturn]] void usage_error(const std::string& message) {
  die(kExitUsage, message + "; try 'ppagent --help'");
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

// ---------------------------------------------------------------------------
// Finding the agent

std::string launcher_dir() {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) {
    die(kExitAgentNotFound,
        std::string("cannot find the agent: /proc/self/exe: ") + strerror(errno));
  }
  std::string exe(path, static_cast<size_t>(length));
  return exe.substr(0, exe.rfind('/'));
}

// In order: the build tree (build/launcher/ppagent next to build/agent/), then the
// installed layout, given relative to bindir so that the prefix can move.
std::vector<std::string> agent_candidates() {
  const std::string dir = launcher_dir();
  std::string installed = PPAGENT_AGENT_FROM_BINDIR;
  if (installed[0] != '/') installed = dir + "/" + installed;
  return {dir + "/../agent/libppagent.so", installed};
}

// The absolute, canonical path of the agent, or nothing.
std::optional<std::string> find_agent() {
  for (const std::string& candidate : agent_candidates()) {
    struct stat status;
    if (stat(candidate.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) continue;
    char* resolved = realpath(candidate.c_str(), nullptr);
    if (resolved == nullptr) continue;
    std::string agent = resolved;
    free(resolved);
    return agent;
  }
  return std::nullopt;
}

std::string find_agent_or_die() {
  std::optional<std::string> agent = find_agent();
  if (!agent) {
    const std::vector<std::string> candidates = agent_candidates();
    die(kExitAgentNotFound, "agent library not found (looked for " + candidates[0] + " and " +
                                candidates[1] + ")");
  }
  // The dynamic loader splits LD_PRELOAD at spaces and colons.
  if (agent->find_first_of(" :") != std::string::npos) {
    die(kExitAgentNotFound, "agent library path " + quoted(*agent) +
                                " contains a space or ':', which LD_PRELOAD cannot express");
  }
  return *agent;
}

// ---------------------------------------------------------------------------
// Command line of `ppagent run`

// Unset members keep the environment's value.
struct RunOptions {
  // The variables the options set, by row of ppagent::kVariables: the value
  // to put in the environment (normalised), or nothing when not given.
  std::vector<std::optional<std::string>> variables =
      std::vector<std::optional<std::string>>(ppagent::kVariableCount);
  int dump_signal_number = -1;                    // --dump-signal's; -1 when not given
  bool flame = false;                             // --flame, or PPROF_FLAME=1
  char** program_argv = nullptr;          // PROGRAM ARGS..., null-terminated
};

// The one-letter options and the long ones they stand for.
const char* short_option(const char* long_name) {
  return strcmp(long_name, "--output-dir") == 0 ? "-o" : nullptr;
}

// Recognises "--name VALUE", "--name=VALUE", and for a short name "-o VALUE" and
// "-oVALUE". Advances *index past a separate VALUE.
bool take_option(const std::string& arg, const std::string& long_name, const char* short_name,
                 int argc, char** argv, int* index, std::string* value) {
  const bool separate_value = arg == long_name || (short_name != nullptr && arg == short_name);
  if (separate_value) {
    if (*index + 1 >= argc) usage_error("option " + arg + " needs a value");
    *index += 1;
    *value = argv[*index];
    return true;
  }
  if (arg.compare(0, long_name.size() + 1, long_name + "=") == 0) {
    *value = arg.substr(long_name.size() + 1);
    return true;
  }
  if (short_name != nullptr && arg.compare(0, 2, short_name) == 0 && arg.size() > 2) {
    *value = arg.substr(2);
    return true;
  }
  return false;
}

std::string parse_dump_signal_option(const std::string& value, int* number) {
  std::string problem;
  if (!ppagent::parse_dump_signal(value, number, &problem)) {
    die(kExitUsage, "--dump-signal " + quoted(value) + " is not valid (" + problem + ")");
  }
  return ppagent::dump_signal_env_value(*number);
}

// The agent resolves a relative PPROF_OUTPUT_DIR itself, but checking here turns a
// typo into an error before the program runs instead of a lost profile after it.
std::string parse_output_dir(const std::string& value) {
  char* resolved = realpath(value.c_str(), nullptr);
  if (resolved == nullptr) {
    die(kExitUsage, "output directory " + quoted(value) + ": " + strerror(errno));
  }
  std::string dir = resolved;
  free(resolved);
  struct stat status;
  if (stat(dir.c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) {
    die(kExitUsage, "output directory " + quoted(value) + " is not a directory");
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    die(kExitUsage, "output directory " + quoted(value) + " is not writable: " + strerror(errno));
  }
  return dir;
}

// The value of the option of `row`, checked as the agent checks its variable
// (ppagent::parse_variable, against the rows above as the program will have
// them in `so_far`), normalised for the environment. A bad value is a usage
// error. The dump signal and the output directory say more than the agent can.
std::string checked_option(const ppagent::Variable& row, const std::string& value,
                           const ppagent::VariableContext& context, RunOptions* options) {
  switch (row.kind) {
    case ppagent::VariableKind::kDumpSignal:
      return parse_dump_signal_option(value, &options->dump_signal_number);
    case ppagent::VariableKind::kDirectory: return parse_output_dir(value);
    default: break;
  }
  ppagent::VariableValue parsed;
  std::string refusal;
  ppagent::Verdict verdict = ppagent::parse_variable(row, value.c_str(), context, &parsed, &refusal);
  const bool integer = row.kind == ppagent::VariableKind::kInteger;
  // An option's integer is digits only: no sign, not even "-0".
  if (integer && value[0] == '-') verdict = ppagent::Verdict::kMalformed;
  switch (verdict) {
    case ppagent::Verdict::kValid: break;
    case ppagent::Verdict::kMalformed: {
      const std::string message = std::string(row.flag) + " " + quoted(value) +
                                  " is not valid (expected " +
                                  (row.flag_expected != nullptr ? row.flag_expected : row.expected) +
                                  ")";
      if (integer) die(kExitUsage, message);  // said in full: no pointer to --help
      usage_error(message);
    }
    case ppagent::Verdict::kRefused:
      usage_error(std::string(row.flag) + " " + quoted(value) + " " + refusal);
  }
  switch (row.kind) {
    case ppagent::VariableKind::kInteger: return std::to_string(parsed.number);
    case ppagent::VariableKind::kCpuSignal:
      return ppagent::dump_signal_env_value(static_cast<int>(parsed.number));
    default: return value;
  }
}

// The options' values, checked in the agent's order, each against what the
// program will have for the rows above it: the options' values, else the
// environment's (whose problems are the agent's to report).
void check_options(RunOptions* options) {
  ppagent::Config so_far;
  ppagent::ProcessFilter filter;
  const ppagent::EnvLookup env = [options](const char* name) -> const char* {
    for (size_t i = 0; i < ppagent::kVariableCount; i++)
      if (options->variables[i] && strcmp(ppagent::kVariables[i].name, name) == 0)
        return options->variables[i]->c_str();
    return getenv(name);
  };
  const ppagent::VariableContext context{&env, "/", &so_far, /*for_flags=*/true};
  std::vector<std::string> ignored;
  for (size_t i = 0; i < ppagent::kVariableCount; i++) {
    const ppagent::Variable& row = ppagent::kVariables[i];
    std::optional<std::string>& option = options->variables[i];
    if (option) option = checked_option(row, *option, context, options);
    ppagent::read_variable(row, context, &so_far, &filter, &ignored);
  }
}

RunOptions parse_run_args(int argc, char** argv, int first) {
  RunOptions options;
  int index = first;
  for (; index < argc; ++index) {
    const std::string arg = argv[index];
    if (arg == "--") {
      ++index;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // PROGRAM ("-" alone too, as with getopt)
    if (arg == "-h" || arg == "--help") {
      fputs(kHelp, stdout);
      exit(0);
    }
    // The launcher's own: no variable of the agent's.
    if (arg == "--flame") {
      options.flame = true;
      continue;
    }
    // A repeated option: the last one wins, so values are checked after the loop.
    bool taken = false;
    for (size_t i = 0; i < ppagent::kVariableCount && !taken; i++) {
      const ppagent::Variable& row = ppagent::kVariables[i];
      if (row.flag == nullptr) continue;
      std::string value;
      if (row.flag_sets != nullptr) {
        taken = arg == row.flag;
        value = row.flag_sets;
      } else {
        taken = take_option(arg, row.flag, short_option(row.flag), argc, argv, &index, &value);
      }
      if (taken) options.variables[i] = value;
    }
    if (!taken) usage_error("unknown option " + quoted(arg));
  }
  if (index >= argc) usage_error("missing PROGRAM (usage: " + std::string(kRunSynopsis) + ")");
  check_options(&options);
  if (const char* flame = getenv("PPROF_FLAME"); !options.flame && flame != nullptr) {
    if (strcmp(flame, "1") == 0) {
      options.flame = true;
    } else if (*flame != '\0' && strcmp(flame, "0") != 0) {
      usage_error("PPROF_FLAME=" + quoted(flame) + " is not valid (expected 1 for flame graphs, or 0)");
    }
  }
  options.program_argv = argv + index;
  return options;
}

// ---------------------------------------------------------------------------
// Finding and checking PROGRAM

enum class Candidate { kExecutable, kNotExecutable, kMissing };

Candidate check_candidate(const std::string& path, std::string* problem) {
  struct stat status;
  if (stat(path.c_str(), &status) != 0) {
    *problem = strerror(errno);
    return errno == ENOENT || errno == ENOTDIR ? Candidate::kMissing : Candidate::kNotExecutable;
  }
  if (S_ISDIR(status.st_mode)) {
    *problem = "is a directory";
    return Candidate::kNotExecutable;
  }
  if (!S_ISREG(status.st_mode)) {
    *problem = "is not a regular file";
    return Candidate::kNotExecutable;
  }
  if (access(path.c_str(), X_OK) != 0) {
    *problem = std::string("is not executable (") + strerror(errno) + ")";
    return Candidate::kNotExecutable;
  }
  return Candidate::kExecutable;
}

// Like execvp's search, without its fallback of running a non-ELF file with /bin/sh:
// a name with a '/' is used as is, otherwise each PATH entry is tried in order and
// the first executable file wins. If there is none, a file that exists but cannot
// be executed is reported (126) rather than "not found" (127).
std::string resolve_program(const std::string& name) {
  std::string problem;
  if (name.find('/') != std::string::npos) {
    switch (check_candidate(name, &problem)) {
      case Candidate::kExecutable: return name;
      case Candidate::kMissing: die(kExitNotFound, name + ": " + problem);
      case Candidate::kNotExecutable: die(kExitCannotExecute, name + ": " + problem);
    }
  }
  if (name.empty()) die(kExitNotFound, "\"\": command not found");

  const char* path_env = getenv("PATH");
  const std::string search_path = path_env != nullptr ? path_env : "/bin:/usr/bin";  // glibc's default
  std::string first_unusable;
  size_t start = 0;
  while (true) {
    const size_t end = std::min(search_path.find(':', start), search_path.size());
    std::string dir = search_path.substr(start, end - start);
    if (dir.empty()) dir = ".";  // an empty entry means the working directory
    const std::string candidate = dir + "/" + name;
    switch (check_candidate(candidate, &problem)) {
      case Candidate::kExecutable: return candidate;
      case Candidate::kNotExecutable:
        if (first_unusable.empty()) first_unusable = candidate + ": " + problem;
        break;
      case Candidate::kMissing: break;
    }
    if (end == search_path.size()) break;
    start = end + 1;
  }
  if (!first_unusable.empty()) die(kExitCannotExecute, first_unusable);
  die(kExitNotFound, name + ": command not found");
}

// ---------------------------------------------------------------------------
// The report file, where the agent lists the profiles it wrote

struct ReportFile {
  std::string path;
  int fd = -1;
};

// Without a report file the program still runs and is profiled; only the
// "wrote" lines are missing, which is not worth refusing to run for.
// Where the report file goes: TMPDIR when set; otherwise /dev/shm (a tmpfs),
// then /tmp. Creating a file in a busy ext4 /tmp scanned the inode bitmap for
// recently deleted inodes: ~2 ms of CPU, more than the rest of the launcher.
const char* report_directory() {
  const char* tmpdir = getenv("TMPDIR");
  if (tmpdir != nullptr && *tmpdir != '\0') return tmpdir;
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK | X_OK) == 0)
    return "/dev/shm";
  return "/tmp";
}

std::optional<ReportFile> create_report_file() {
  const char* tmpdir = report_directory();
  std::string path = std::string(tmpdir) + "/ppagent-report.XXXXXX";
  int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "ppagent: cannot create a report file in %s (%s); profiles are written but not listed\n",
            tmpdir, strerror(errno));
    return std::nullopt;
  }
  return ReportFile{path, fd};
}

// The files the agent listed, in its order.
std::vector<std::string> read_report_and_remove(const ReportFile& report) {
  std::string contents;
  char buffer[4096];
  off_t offset = 0;
  ssize_t got;
  while ((got = pread(report.fd, buffer, sizeof buffer, offset)) > 0) {
    contents.append(buffer, static_cast<size_t>(got));
    offset += got;
  }
  close(report.fd);
  unlink(report.path.c_str());

  std::vector<std::string> files;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == std::string::npos) end = contents.size();
    if (end > start) files.push_back(contents.substr(start, end - start));
    start = end + 1;
  }
  return files;
}

// With --flame, each profile's page follows its line. A page that cannot be
// written is said, and the rest go on: the program's status stays the status.
void print_written(const std::vector<std::string>& files, bool flame) {
  for (const std::string& file : files) {
    fprintf(stderr, "ppagent: wrote %s\n", file.c_str());
    if (!flame) continue;
    const std::string page = file + ".html";
    std::string error;
    bool usage = false;
    if (ppagent::write_flame_page(file, "", page, &error, &usage)) {
      fprintf(stderr, "ppagent: wrote %s\n", page.c_str());
    } else {
      fprintf(stderr, "ppagent: no flame graph for %s: %s\n", file.c_str(), error.c_str());
    }
  }
}

// ---------------------------------------------------------------------------
// Running PROGRAM

// Always forwarded; the program's dump signal is forwarded too (see forwarded_signals).
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
constexpr int kMaxForwarded = sizeof kForwardedSignals / sizeof kForwardedSignals[0] + 1;

volatile sig_atomic_t g_child_pid = 0;

void forward_signal(int signal_number, siginfo_t* info, void*) {
  // si_code <= 0 (SI_USER, SI_QUEUE, SI_TKILL): sent by a process to us alone, so
  // pass it on. Terminal signals (SI_KERNEL) went to the whole foreground process
  // group, PROGRAM included: forwarding them would deliver them twice.
  if (info->si_code > 0 || g_child_pid <= 0) return;
  const int saved_errno = errno;
  kill(g_child_pid, signal_number);
  errno = saved_errno;
}

void set_environment(const RunOptions& options, const std::string& agent,
                     const std::optional<ReportFile>& report) {
  for (size_t i = 0; i < ppagent::kVariableCount; i++)
    if (options.variables[i]) setenv(ppagent::kVariables[i].name, options.variables[i]->c_str(), 1);
  if (report) setenv("PPROF_REPORT_FILE", report->path.c_str(), 1);
  ppagent::set_jemalloc_conf();  // from the PPROF_* values just set
  std::string preload = agent;
  const char* existing = getenv("LD_PRELOAD");
  if (existing != nullptr && *existing != '\0') preload += std::string(":") + existing;
  setenv("LD_PRELOAD", preload.c_str(), 1);
}

// What run_and_wait needs to give PROGRAM the signal state we started with.
struct SignalState {
  int count = 0;
  int signals[kMaxForwarded] = {};
  sigset_t old_mask;
  struct sigaction old_actions[kMaxForwarded];
  bool installed[kMaxForwarded] = {};
};

// The program's dump signal, forwarded too so that `kill -<dump signal> <ppagent's
// pid>` reaches the program instead of killing ppagent: the option's, else the
// environment's (an invalid value there is the agent's to report), else the
// default. 0 when there is none or it must not be caught here: job-control and
// child-status signals keep their own meaning for ppagent.
int forwarded_dump_signal(const RunOptions& options) {
  int number = SIGUSR2;
  if (options.dump_signal_number >= 0) {
    number = options.dump_signal_number;
  } else if (const char* value = getenv("PPROF_DUMP_SIGNAL"); value != nullptr && *value != '\0') {
    std::string problem;
    if (!ppagent::parse_dump_signal(value, &number, &problem)) return 0;
  }
  switch (number) {
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGCONT:
    case SIGCHLD: return 0;
    default: return number;
  }
}

// Installs the forwarding handlers with the forwarded signals blocked; they stay
// blocked until the child's pid is known, so none is lost in between: a signal
// arriving meanwhile is delivered (and forwarded) when run_and_wait unblocks it.
// Done before the report file is created so that no such signal can kill us
// and leave the file behind.
void start_forwarding_signals(int dump_signal, SignalState* state) {
  for (int signal_number : kForwardedSignals) state->signals[state->count++] = signal_number;
  if (dump_signal > 0 && std::find(kForwardedSignals, std::end(kForwardedSignals), dump_signal) ==
                             std::end(kForwardedSignals)) {
    state->signals[state->count++] = dump_signal;
  }

  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int i = 0; i < state->count; ++i) sigaddset(&forwarded, state->signals[i]);
  sigprocmask(SIG_BLOCK, &forwarded, &state->old_mask);

  for (int i = 0; i < state->count; ++i) {
    sigaction(state->signals[i], nullptr, &state->old_actions[i]);
    // A signal ignored by whoever started us (nohup, for instance) stays ignored,
    // for us and, through exec, for PROGRAM.
    if (state->old_actions[i].sa_handler == SIG_IGN) continue;
    struct sigaction action = {};
    action.sa_sigaction = forward_signal;
    action.sa_flags = SA_SIGINFO;  // no SA_RESTART: waitpid below loops on EINTR
    sigemptyset(&action.sa_mask);
    sigaction(state->signals[i], &action, nullptr);
    state->installed[i] = true;
  }
}

// Starts PROGRAM: vfork, then in the child the signals we handle back to
// their default (they were not ignored: start_forwarding_signals leaves ignored
// ones alone), the mask back to the one we were given, and exec. vfork, not
// fork: the child shares our memory until its exec, so no page table is copied
// and no page of ours is faulted back in copy-on-write afterwards, which is
// CPU every profiled command pays. Not posix_spawn: glibc's child cannot know
// which signals have handlers and asks the kernel about each of the 64 (about
// 70 system calls, ~0.4 ms of CPU on the VMs we measure on); we know which.
// Every signal stays blocked from before the vfork until the child's handlers
// are reset, so none of our handlers ever runs in the child. The pid, or -1
// with *error set (the child's errno when its exec failed).
pid_t start_program(const std::string& program_path, char** program_argv,
                    const SignalState& signals, int* error) {
  sigset_t everything, before;
  sigfillset(&everything);
  sigprocmask(SIG_BLOCK, &everything, &before);
  volatile int exec_error = 0;  // written by the child, which shares our memory
  const pid_t pid = vfork();
  if (pid == 0) {
    struct sigaction default_action = {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    for (int i = 0; i < signals.count; ++i)
      if (signals.installed[i]) sigaction(signals.signals[i], &default_action, nullptr);
    sigprocmask(SIG_SETMASK, &signals.old_mask, nullptr);
    execve(program_path.c_str(), program_argv, environ);
    exec_error = errno;
    _exit(kExitCannotExecute);
  }
  *error = pid < 0 ? errno : exec_error;
  sigprocmask(SIG_SETMASK, &before, nullptr);
  if (pid > 0 && *error != 0) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  return pid < 0 ? -1 : pid;
}

// Starts PROGRAM, forwards signals while waiting, and returns the status to
// exit with.
int run_and_wait(const std::string& program_path, char** program_argv, const SignalState& signals) {
  int error = 0;
  const pid_t pid = start_program(program_path, program_argv, signals, &error);
  if (pid < 0) {
    // PROGRAM was there a moment ago, so ENOENT means its interpreter is missing.
    const char* reason = error == ENOENT ? "its interpreter (#! line or ELF PT_INTERP) was not found"
                                         : strerror(error);
    fprintf(stderr, "ppagent: cannot execute %s: %s\n", program_path.c_str(), reason);
    return kExitCannotExecute;
  }
  g_child_pid = pid;
  sigprocmask(SIG_SETMASK, &signals.old_mask, nullptr);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "ppagent: waitpid: %s\n", strerror(errno));
      return kExitCannotExecute;
    }
  }
  // The pid is free for reuse now: signals that still arrive (a SIGPIPE dump signal
  // raised by our own writes to stderr, say) must not reach another process.
  g_child_pid = 0;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int run_command(int argc, char** argv) {
  const RunOptions options = parse_run_args(argc, argv, 2);
  const std::string program_path = resolve_program(options.program_argv[0]);
  if (ppagent::classify_program(program_path.c_str()) == ppagent::ProgramKind::kStaticElf) {
    die(kExitStaticProgram, program_path +
                                " is a statically linked executable: LD_PRELOAD cannot load the agent "
                                "into it; link it dynamically (without -static) to profile it");
  }
  const std::string agent = find_agent_or_die();

  SignalState signals;
  start_forwarding_signals(forwarded_dump_signal(options), &signals);
  const std::optional<ReportFile> report = create_report_file();
  set_environment(options, agent, report);
  const int status = run_and_wait(program_path, options.program_argv, signals);
  if (report) print_written(read_report_and_remove(*report), options.flame);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage_error(std::string("usage: ") + kRunSynopsis +
                ", ppagent dump PID, ppagent top FILE or ppagent flame FILE");
  }
  const std::string command = argv[1];
  if (command == "run") return run_command(argc, argv);
  if (command == "dump") return ppagent::dump_command(argc, argv);
  if (command == "top") return ppagent::top_command(argc, argv);
  if (command == "flame") return ppagent::flame_command(argc, argv);
  if (command == "-h" || command == "--help") {
    fputs(kHelp, stdout);
    return 0;
  }
  if (command == "--version") {
    printf("ppagent %s\n", PPAGENT_VERSION);
    fflush(stdout);
    printf("agent: %s\n", find_agent_or_die().c_str());
    return 0;
  }
  if (command[0] == '-') usage_error("unknown option " + quoted(command));
  usage_error("unknown command " + quoted(command) +
              " (the commands are 'run', 'dump', 'top' and 'flame')");
}
