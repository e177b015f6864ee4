#include "base/signal_spec.h"

#include <signal.h>
#include <strings.h>

#include <algorithm>
#include <string>

namespace ppagent {

namespace {

std::string expected() {
  return "expected a signal name such as USR2, SIGUSR1 or RTMIN+3, a signal number from 1 to " +
         std::to_string(NSIG - 1) + ", or none";
}

struct NamedSignal {
  const char* name;  // without SIG
  int number;
};

// Linux's standard signals. The first entry for a number is its canonical name;
// IOT, CLD and POLL are the usual aliases.
constexpr NamedSignal kSignals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},    {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH},   {"IO", SIGIO},       {"POLL", SIGPOLL},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

// Digits only; a value above 9999 comes out as 10000, which no check accepts.
bool parse_small_decimal(const std::string& text, int* value) {
  if (text.empty()) return false;
  int result = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    result = std::min(result * 10 + (c - '0'), 10000);
  }
  *value = result;
  return true;
}

}  // namespace

const char* unusable_dump_signal_reason(int number) {
  switch (number) {
    case SIGKILL:
    case SIGSTOP: return "cannot be caught";
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE: return "is raised by faults in the program, which a dump handler must not swallow";
    case SIGABRT: return "is raised by abort(), which would then ask for a dump as the program dies";
    case SIGTRAP: return "is raised by breakpoints and debuggers";
    case SIGPROF: return "is the agent's CPU sampling signal";
    default: break;
  }
  if (number > SIGSYS && number < SIGRTMIN) return "is reserved by the C library";
  return nullptr;
}

bool usable_as_dump_signal(int number) { return unusable_dump_signal_reason(number) == nullptr; }

bool parse_signal(const char* text, int* number) {
  std::string problem;
  return text != nullptr && parse_signal(std::string(text), number, &problem);
}

bool parse_signal(const std::string& text, int* number, std::string* problem) {
  *problem = expected();
  if (strcasecmp(text.c_str(), "none") == 0) {
    *number = 0;
    return true;
  }

  int parsed = -1;
  if (parse_small_decimal(text, &parsed)) {
    if (parsed == 0) {
      *number = 0;
      return true;
    }
    if (parsed >= NSIG) {
      *problem = "there is no signal " + text + ": signal numbers go from 1 to " + std::to_string(NSIG - 1);
      return false;
    }
  } else {
    std::string name = text;
    if (name.size() > 3 && strncasecmp(name.c_str(), "SIG", 3) == 0) name = name.substr(3);
    const int rt_span = SIGRTMAX - SIGRTMIN;
    if (strncasecmp(name.c_str(), "RTMIN", 5) == 0 || strncasecmp(name.c_str(), "RTMAX", 5) == 0) {
      const bool from_min = (name[4] == 'N' || name[4] == 'n');
      const std::string rest = name.substr(5);
      int offset = 0;
      if (!rest.empty()) {
        if (rest[0] != (from_min ? '+' : '-') || !parse_small_decimal(rest.substr(1), &offset)) {
          return false;
        }
        if (offset > rt_span) {
          *problem = std::string("the real-time signals are RTMIN to RTMIN+") + std::to_string(rt_span) +
                     ", that is RTMAX-" + std::to_string(rt_span) + " to RTMAX";
          return false;
        }
      }
      parsed = from_min ? SIGRTMIN + offset : SIGRTMAX - offset;
    } else {
      for (const NamedSignal& candidate : kSignals) {
        if (strcasecmp(name.c_str(), candidate.name) == 0) {
          parsed = candidate.number;
          break;
        }
      }
      if (parsed < 0) return false;
    }
  }
  *number = parsed;
  return true;
}

bool parse_dump_signal(const std::string& text, int* number, std::string* problem) {
  int parsed = 0;
  if (!parse_signal(text, &parsed, problem)) return false;
  if (const char* reason = unusable_dump_signal_reason(parsed)) {
    *problem = signal_name(parsed) + " " + reason + "; use a signal such as USR2, USR1 or RTMIN+N";
    return false;
  }
  *number = parsed;
  return true;
}

std::string signal_name(int number) {
  if (number == 0) return "none";
  if (number >= SIGRTMIN && number <= SIGRTMAX) {
    const int from_min = number - SIGRTMIN, from_max = SIGRTMAX - number;
    if (from_max == 0) return "SIGRTMAX";
    if (from_min == 0) return "SIGRTMIN";
    return from_max <= from_min ? "SIGRTMAX-" + std::to_string(from_max)
                                : "SIGRTMIN+" + std::to_string(from_min);
  }
  for (const NamedSignal& candidate : kSignals) {
    if (candidate.number == number) return std::string("SIG") + candidate.name;
  }
  return "signal " + std::to_string(number);
}

std::string dump_signal_env_value(int number) {
  if (number == 0) return "none";
  // SIGSTKFLT, unused on Linux, is not a name that every parser knows.
  if ((number >= SIGRTMIN && number <= SIGRTMAX) || number == SIGSTKFLT) return std::to_string(number);
  return signal_name(number);
}

}  // namespace ppagent
