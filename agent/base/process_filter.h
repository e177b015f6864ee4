// Which processes the agent profiles: PPROF_CHILDREN (children of the first
// process, by fork or exec) and PPROF_PROGRAMS (program names). Read once at
// start, like Config, but kept apart: the decision is about the process, not
// about what to record.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/config.h"  // EnvLookup

namespace ppagent {

struct ProcessFilter {
  // PPROF_CHILDREN=0: only the process the agent was first loaded into. The
  // agent then takes itself out of LD_PRELOAD (exec'd programs never load it)
  // and goes inert in a forked child.
  bool children = true;
  // PPROF_PROGRAMS=NAME[,NAME...]: only processes whose program name (the
  // basename of argv[0], as in the profile file names) is one of these. Empty:
  // every program. A process that does not match stays loaded but records and
  // writes nothing, so that its matching descendants are still profiled.
  std::vector<std::string> programs;
};

// Every problem becomes one message in *problems; a bad value leaves that
// part of the filter at its default (children profiled, every program).
ProcessFilter parse_process_filter(const EnvLookup& env, std::vector<std::string>* problems);

bool program_selected(const ProcessFilter& filter, const char* program_name);

// `preload` (an LD_PRELOAD value: entries separated by spaces or colons)
// without the entries for which `is_agent` is true, joined with ':'.
std::string preload_without(const std::string& preload,
                            const std::function<bool(const std::string&)>& is_agent);

// Takes this library out of the LD_PRELOAD of the process's environment, so
// that programs it execs do not load it. Returns false (and says why in
// *error) if it could not.
bool remove_agent_from_preload(std::string* error);

}  // namespace ppagent
