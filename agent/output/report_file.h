// PPROF_REPORT_FILE: the launcher's list of the profiles the agent wrote.
// The variable comes from the environment, so the agent must not let it
// name any other file: it only appends to a file that the launcher made.
#pragma once

#include <string>

namespace ppagent {

// Appends `line` + '\n' to `path` only if it is an existing regular file (not
// a link; never created here) named "ppagent-report.*", owned by this
// process's effective user and readable or writable by nobody else — what
// the launcher's mkstemp makes. Otherwise does nothing; returns whether the
// line was appended.
bool append_report_line(const std::string& path, const std::string& line);

}  // namespace ppagent
