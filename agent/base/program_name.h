#pragma once

// The program's name for profile file names and the process filter: the
// basename of argv[0] as it was when the agent started. Programs such as nginx
// overwrite their argv memory to show a process title ("nginx: worker
// process"), and glibc's program_invocation_short_name points into that
// memory, so it is copied once at start (a forked child inherits the copy).
void remember_program_name();
const char* program_name();
