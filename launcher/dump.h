// `ppagent dump PID`: asks a running process that has the agent loaded to write a
// dump (those of its heap, allocs, mutex and block profiles that are on), by sending
// it its dump signal (PPROF_DUMP_SIGNAL, default SIGUSR2).
#pragma once

namespace ppagent {

// argv[1] is "dump". Returns the exit status: 0 sent, 1 nothing sent, 2 usage error.
int dump_command(int argc, char** argv);

}  // namespace ppagent
