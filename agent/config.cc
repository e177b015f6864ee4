#include "config.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace ppagent {

bool parse_int_in_range(const char* text, long min, long max, long* out) {
  if (text == nullptr || *text == '\0') return false;
  const char* p = text;
  if (*p == '-') p++;
  if (*p == '\0') return false;
  for (const char* q = p; *q; q++)
    if (*q < '0' || *q > '9') return false;
  errno = 0;
  char* end = nullptr;
  long v = strtol(text, &end, 10);
  if (errno == ERANGE || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

static std::string absolute_path(const std::string& path, const std::string& cwd) {
  if (!path.empty() && path[0] == '/') return path;
  if (cwd.empty()) return std::string();
  return cwd == "/" ? "/" + path : cwd + "/" + path;
}

Config parse_config(const EnvLookup& env, const std::string& cwd,
                    std::vector<std::string>* problems) {
  Config config;

  // An empty value means "unset", as systemd's Environment=NAME= suggests.
  const char* hz = env("PPROF_CPU_HZ");
  if (hz != nullptr && *hz != '\0') {
    long v = 0;
    if (parse_int_in_range(hz, 0, 1000, &v)) {
      config.cpu_hz = static_cast<int>(v);
    } else {
      config.cpu_hz = 0;
      problems->push_back(std::string("PPROF_CPU_HZ=\"") + hz +
                          "\" is not valid (expected an integer from 0 to 1000; "
                          "0 turns CPU profiling off); CPU profiling is off");
    }
  }

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
      config.output_dir = path;
    }
  } else {
    config.output_dir = cwd;
  }

  const char* stacks = env("PPROF_CPU_MAX_STACKS");
  if (stacks != nullptr && *stacks != '\0') {
    long v = 0;
    if (parse_int_in_range(stacks, 16, 1 << 22, &v)) {
      config.cpu_max_stacks = v;
    } else {
      problems->push_back(std::string("PPROF_CPU_MAX_STACKS=\"") + stacks +
                          "\" is not valid (expected an integer from 16 to 4194304); "
                          "using the default, 65536");
    }
  }

  if (const char* report = env("PPROF_REPORT_FILE"))
    if (*report != '\0') config.report_file = absolute_path(report, cwd);

  return config;
}

}  // namespace ppagent
