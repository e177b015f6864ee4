// The dump signal's syntax, one for the agent (PPROF_DUMP_SIGNAL) and the
// launcher (`ppagent run --dump-signal`, `ppagent dump`): a signal name with
// or without SIG (USR2, SIGUSR2, RTMIN+3, RTMAX-1), case-insensitive, a signal
// number, or `none` / `0` for no dump signal.
#pragma once

#include <string>

namespace ppagent {

// Parses TEXT as a signal, usable as a dump signal or not. On success returns
// true and sets *number (0 for none); otherwise sets *problem to why, ready
// to go in parentheses after the value.
bool parse_signal(const std::string& text, int* number, std::string* problem);
// The same without the why; false for null.
bool parse_signal(const char* text, int* number);

// Why a signal that exists would do harm as a dump signal (it cannot be
// caught, reports a fault, or is the C library's or the CPU profiler's), or
// nullptr if it can serve.
const char* unusable_dump_signal_reason(int number);
bool usable_as_dump_signal(int number);

// parse_signal and then unusable_dump_signal_reason. Parses TEXT. On success returns true and sets *number (0 for none). Otherwise
// returns false and sets *problem to why, ready to go in parentheses after the value
// (a signal that exists but cannot serve as a dump signal gets its own reason).
bool parse_dump_signal(const std::string& text, int* number, std::string* problem);

// The one way the agent and the launcher name a signal: "SIGUSR2", "SIGPROF",
// a real-time signal from the nearer end ("SIGRTMIN", "SIGRTMIN+3",
// "SIGRTMAX-2", "SIGRTMAX"), "none" (0), or "signal N" for a number with no
// name.
std::string signal_name(int number);

// The normalised value for PPROF_DUMP_SIGNAL: "none", the SIG name of a standard
// signal ("SIGUSR2"), or the number of a real-time signal ("37"), whose name
// (RTMIN+3) depends on the C library, and of SIGSTKFLT.
std::string dump_signal_env_value(int number);

}  // namespace ppagent
