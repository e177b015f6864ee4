#include "base/process_filter.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <sys/stat.h>

namespace ppagent {

namespace {

bool same_file(const struct stat& a, const std::string& path) {
  struct stat b;
  return stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

ProcessFilter parse_process_filter(const EnvLookup& env, std::vector<std::string>* problems) {
  // PPROF_CHILDREN and PPROF_PROGRAMS: their rows in config.cc's table.
  ProcessFilter filter;
  Config unused;
  read_variables(VariablePart::kProcessFilter, VariableContext{&env, std::string(), &unused},
                 &unused, &filter, problems);
  return filter;
}

bool program_selected(const ProcessFilter& filter, const char* program_name) {
  if (filter.programs.empty()) return true;
  for (const std::string& name : filter.programs)
    if (program_name != nullptr && name == program_name) return true;
  return false;
}

std::string preload_without(const std::string& preload,
                            const std::function<bool(const std::string&)>& is_agent) {
  std::string kept;
  size_t start = 0;
  while (start <= preload.size()) {
    size_t end = preload.find_first_of(" :", start);
    if (end == std::string::npos) end = preload.size();
    std::string entry = preload.substr(start, end - start);
    if (!entry.empty() && !is_agent(entry)) {
      if (!kept.empty()) kept += ':';
      kept += entry;
    }
    start = end + 1;
  }
  return kept;
}

bool remove_agent_from_preload(std::string* error) {
  const char* preload = getenv("LD_PRELOAD");
  if (preload == nullptr) return true;
  Dl_info info;
  struct stat self;
  if (dladdr(reinterpret_cast<void*>(&remove_agent_from_preload), &info) == 0 ||
      info.dli_fname == nullptr || stat(info.dli_fname, &self) != 0) {
    *error = "cannot find the agent library's own path";
    return false;
  }
  // By file identity: the entry may name the library by another path (a
  // symlink, a relative path) than the one the loader reports.
  const std::string own_path = info.dli_fname;
  std::string kept = preload_without(preload, [&](const std::string& entry) {
    return entry == own_path || same_file(self, entry);
  });
  int rc = kept.empty() ? unsetenv("LD_PRELOAD") : setenv("LD_PRELOAD", kept.c_str(), 1);
  if (rc != 0) {
    *error = std::string("cannot change LD_PRELOAD: ") + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace ppagent
