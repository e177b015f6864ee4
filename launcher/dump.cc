#include "dump.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "base/signal_spec.h"

namespace ppagent {
namespace {

constexpr int kSent = 0;
constexpr int kNotSent = 1;
constexpr int kUsage = 2;

constexpr char kUsageLine[] = "usage: ppagent dump PID";

constexpr char kDumpHelp[] = R"(Usage: ppagent dump PID

Sends the dump signal to process PID, which runs with the ppagent agent
(libppagent.so) loaded, so that it writes a dump while it runs on: the
profiles that are on, among <program>.<pid>.heap.<n>.pb.gz,
<program>.<pid>.allocs.<n>.pb.gz, <program>.<pid>.mutex.<n>.pb.gz and
<program>.<pid>.block.<n>.pb.gz, in its output directory, normally within a
second. The signal is the process's PPROF_DUMP_SIGNAL (default SIGUSR2). PID
may also be that of a `ppagent run`: the signal then goes to the program it runs.

Exit status:
  0    the signal was sent
  1    nothing was sent: no such process, not running the agent, no dump signal
       (none) or no handler for it, or permission denied
  2    usage error
)";

int not_sent(const std::string& message) {
  fprintf(stderr, "ppagent: %s; nothing sent\n", message.c_str());
  return kNotSent;
}

int usage(const std::string& message) {
  fprintf(stderr, "ppagent: %s (%s)\n", message.c_str(), kUsageLine);
  return kUsage;
}

bool parse_pid(const std::string& text, pid_t* pid) {
  if (text.empty() || text.size() > 10) return false;
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > INT_MAX) return false;
  *pid = static_cast<pid_t>(value);
  return true;
}

std::string proc_path(pid_t pid, const char* name) {
  return "/proc/" + std::to_string(pid) + "/" + name;
}

// Reads /proc/PID/NAME whole. On failure returns false with errno set.
bool read_proc_file(pid_t pid, const char* name, std::string* contents) {
  const int fd = open(proc_path(pid, name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  contents->clear();
  char buffer[65536];
  ssize_t got;
  while ((got = read(fd, buffer, sizeof buffer)) != 0) {
    if (got < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      close(fd);
      errno = saved;
      return false;
    }
    contents->append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return true;
}

bool is_permission_error(int error) { return error == EACCES || error == EPERM; }
bool is_gone_error(int error) { return error == ENOENT || error == ESRCH; }

// What /proc/PID/stat tells: "PID (COMM) STATE PPID ...", COMM may hold anything.
struct ProcessStat {
  std::string comm;
  char state = '?';
  pid_t parent = 0;
};

std::optional<ProcessStat> read_stat(pid_t pid) {
  std::string text;
  if (!read_proc_file(pid, "stat", &text)) return std::nullopt;
  const size_t open_paren = text.find('(');
  const size_t close_paren = text.rfind(')');
  if (open_paren == std::string::npos || close_paren == std::string::npos || close_paren < open_paren) {
    return std::nullopt;
  }
  ProcessStat stat;
  stat.comm = text.substr(open_paren + 1, close_paren - open_paren - 1);
  int parent = 0;
  if (sscanf(text.c_str() + close_paren + 1, " %c %d", &stat.state, &parent) != 2) return std::nullopt;
  stat.parent = parent;
  return stat;
}

// Whether a mapping's path is libppagent.so (possibly " (deleted)" since).
bool maps_have_agent(const std::string& maps) {
  static const std::string kName = "/libppagent.so";
  size_t at = 0;
  while ((at = maps.find(kName, at)) != std::string::npos) {
    at += kName.size();
    if (at == maps.size() || maps[at] == '\n' || maps[at] == ' ') return true;
  }
  return false;
}

bool process_has_agent(pid_t pid) {
  std::string maps;
  return read_proc_file(pid, "maps", &maps) && maps_have_agent(maps);
}

// If PID is a `ppagent run`, the child it runs with the agent, found by its parent
// pid (/proc/PID/task/PID/children needs CONFIG_PROC_CHILDREN, often missing).
std::optional<pid_t> launcher_child(pid_t pid) {
  char exe[PATH_MAX];
  const ssize_t length = readlink(proc_path(pid, "exe").c_str(), exe, sizeof exe - 1);
  if (length <= 0) return std::nullopt;
  std::string path(exe, static_cast<size_t>(length));
  static const std::string kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    path.resize(path.size() - kDeleted.size());
  }
  if (path.substr(path.rfind('/') + 1) != "ppagent") return std::nullopt;

  DIR* proc = opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::vector<pid_t> children;
  while (const dirent* entry = readdir(proc)) {
    pid_t candidate;
    if (!parse_pid(entry->d_name, &candidate)) continue;
    const std::optional<ProcessStat> stat = read_stat(candidate);
    if (stat && stat->parent == pid && process_has_agent(candidate)) children.push_back(candidate);
  }
  closedir(proc);
  if (children.size() != 1) return std::nullopt;
  return children[0];
}

// The first NAME=value in a NUL-separated environment block, as getenv finds it.
std::optional<std::string> environment_value(const std::string& block, const std::string& name) {
  const std::string prefix = name + "=";
  size_t start = 0;
  while (start < block.size()) {
    size_t end = block.find('\0', start);
    if (end == std::string::npos) end = block.size();
    if (block.compare(start, prefix.size(), prefix) == 0) {
      return block.substr(start + prefix.size(), end - start - prefix.size());
    }
    start = end + 1;
  }
  return std::nullopt;
}

// A signal mask line of /proc/PID/status ("SigCgt:\t0000000000004a02"), or nothing.
std::optional<uint64_t> status_mask(const std::string& status, const char* field) {
  const std::string key = std::string("\n") + field + ":";
  const size_t at = status.find(key);
  if (at == std::string::npos) return std::nullopt;
  return strtoull(status.c_str() + at + key.size(), nullptr, 16);
}

const char* default_action(int signal_number) {
  switch (signal_number) {
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU: return "stop the process";
    case SIGCHLD:
    case SIGCONT:
    case SIGURG:
    case SIGWINCH: return "be ignored";
    default: return "terminate the process";
  }
}

const char* permission_hint() {
  return geteuid() == 0 ? "" : " (is it another user's process?)";
}

}  // namespace

int dump_command(int argc, char** argv) {
  int index = 2;
  if (index < argc && (strcmp(argv[index], "-h") == 0 || strcmp(argv[index], "--help") == 0)) {
    fputs(kDumpHelp, stdout);
    return kSent;
  }
  if (index < argc && strcmp(argv[index], "--") == 0) ++index;
  if (index >= argc) return usage("missing PID");
  if (index + 1 < argc) return usage(std::string("too many arguments after the PID: \"") + argv[index + 1] + "\"");
  pid_t pid;
  if (!parse_pid(argv[index], &pid)) return usage(std::string("\"") + argv[index] + "\" is not a process ID");
  const std::string pid_text = std::to_string(pid);

  struct stat status_of_dir;
  if (stat(proc_path(pid, "").c_str(), &status_of_dir) != 0) {
    if (is_gone_error(errno)) return not_sent("there is no process " + pid_text);
    return not_sent(proc_path(pid, "") + ": " + strerror(errno));
  }
  std::optional<ProcessStat> process = read_stat(pid);
  if (!process) return not_sent("there is no process " + pid_text);
  if (process->state == 'Z' || process->state == 'X') {
    return not_sent("process " + pid_text + " (" + process->comm + ") has exited");
  }

  // Is the agent loaded? If PID is ppagent itself, use the program it runs.
  std::string description = "process " + pid_text + " (" + process->comm + ")";
  std::string maps;
  if (!read_proc_file(pid, "maps", &maps)) {
    if (is_gone_error(errno)) return not_sent("there is no process " + pid_text);
    if (is_permission_error(errno)) {
      return not_sent("permission denied: cannot read the memory map of " + description + permission_hint());
    }
    return not_sent(proc_path(pid, "maps") + ": " + strerror(errno));
  }
  std::string redirected;
  if (!maps_have_agent(maps)) {
    const std::optional<pid_t> child = launcher_child(pid);
    if (!child) {
      return not_sent(description + " is not running the ppagent agent (libppagent.so is not loaded in it)");
    }
    redirected = " (the program run by ppagent " + pid_text + ")";
    pid = *child;
    process = read_stat(pid);
    description = "process " + std::to_string(pid) + " (" + (process ? process->comm : "?") + ")";
  }

  // Which signal: the process's PPROF_DUMP_SIGNAL, parsed as the agent parses it.
  std::string environment;
  if (!read_proc_file(pid, "environ", &environment)) {
    if (is_gone_error(errno)) return not_sent("there is no process " + std::to_string(pid));
    if (is_permission_error(errno)) {
      return not_sent("permission denied: cannot read the environment of " + description + permission_hint());
    }
    return not_sent(proc_path(pid, "environ") + ": " + strerror(errno));
  }
  int signal_number = SIGUSR2;
  const std::optional<std::string> value = environment_value(environment, "PPROF_DUMP_SIGNAL");
  if (value && !value->empty()) {
    std::string problem;
    if (!parse_dump_signal(*value, &signal_number, &problem)) {
      return not_sent(description + " has PPROF_DUMP_SIGNAL=\"" + *value + "\", which is not valid (" +
                      problem + ")");
    }
    if (signal_number == 0) {
      return not_sent(description + " has no dump signal (PPROF_DUMP_SIGNAL=\"" + *value + "\")");
    }
  }
  const std::string name = signal_name(signal_number);

  // Only a caught signal can reach the agent's handler; any other would be ignored
  // or, mostly, end the process.
  std::string status;
  if (read_proc_file(pid, "status", &status)) {
    const uint64_t bit = uint64_t{1} << (signal_number - 1);
    const std::optional<uint64_t> ignored = status_mask(status, "SigIgn");
    const std::optional<uint64_t> caught = status_mask(status, "SigCgt");
    if (ignored && (*ignored & bit) != 0) {
      return not_sent(description + " ignores " + name +
                      " (the agent installs its dump handler only if the signal's disposition was the "
                      "default at start)");
    }
    if (caught && (*caught & bit) == 0) {
      return not_sent(description + " has no handler for " + name +
                      ": the agent's dump handler is not installed there (are heap, mutex and block "
                      "profiling all off? is the program still starting?), and the signal would " +
                      default_action(signal_number));
    }
  }

  if (kill(pid, signal_number) != 0) {
    if (errno == ESRCH) return not_sent("there is no process " + std::to_string(pid));
    if (is_permission_error(errno)) {
      return not_sent("permission denied: cannot send " + name + " to " + description + permission_hint());
    }
    return not_sent("cannot send " + name + " to " + description + ": " + strerror(errno));
  }
  fprintf(stderr, "ppagent: sent %s to %d%s\n", name.c_str(), static_cast<int>(pid), redirected.c_str());
  return kSent;
}

}  // namespace ppagent
