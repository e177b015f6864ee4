// Tells whether a program file is a statically linked ELF executable, into which
// LD_PRELOAD cannot load the agent.
#pragma once

namespace ppagent {

enum class ProgramKind {
  kStaticElf,  // ELF executable without PT_INTERP (static or static-pie)
  kOther,      // dynamic ELF, script, unreadable or unrecognised: let exec decide
};

ProgramKind classify_program(const char* path);

}  // namespace ppagent
