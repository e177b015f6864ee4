// Reporting failures to write profile files: one clear line per distinct
// cause, saying what to do, and no flood when every dump fails the same way
// (a full disk fails every file of every dump until space is freed).
#pragma once

#include <string>

namespace ppagent {

// "cannot write profiles to DIR: <cause and what to do>; not written: NAME".
// The text before "; not written: " names the cause and is the same for every
// file that fails for that cause.
std::string write_failure_message(const std::string& dir, int err, const std::string& name);

// Logs `message` (one "ppagent: " line) unless a failure with the same cause
// was already logged since the last successful write. Messages without
// "; not written: " are their own cause.
void log_write_failure(const std::string& message);

// A profile file was written: the next failure is logged again, and if
// failures were logged, one line says that writing works again.
void note_write_success(const std::string& dir);

}  // namespace ppagent
