// One-line diagnostics on stderr, each starting "ppagent: ".
// Not for signal handlers (formatting is not async-signal-safe).
#pragma once

namespace ppagent {

void log_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace ppagent
