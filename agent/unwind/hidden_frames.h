// Frames of the agent's that would otherwise sit on the program's stacks for
// its whole run: main_then_write (interpose_exit.cc) is between libc's
// __libc_start_call_main and the program's main. Such functions go into one
// section, and stack walks leave out return addresses inside it, so that
// profiles show the program's stacks as they are without the agent.
// (The thread start wrapper needs none of this: it tail-calls the thread's
// function, so its frame is gone by then.)
#pragma once

#include <cstdint>

#define PPAGENT_HIDDEN_FRAME __attribute__((section("ppagent_hidden_frames"), noinline))

// The linker defines these for a section whose name is a C identifier; weak,
// since programs linking the agent's code without that section (the unit
// tests) have no such frames: both are then null and nothing is hidden.
extern "C" const char __start_ppagent_hidden_frames[] __attribute__((weak, visibility("hidden")));
extern "C" const char __stop_ppagent_hidden_frames[] __attribute__((weak, visibility("hidden")));

namespace ppagent {

// Async-signal-safe. `code_address`: a pc, or a return address minus one.
inline bool is_hidden_frame(uintptr_t code_address) {
  return code_address >= reinterpret_cast<uintptr_t>(__start_ppagent_hidden_frames) &&
         code_address < reinterpret_cast<uintptr_t>(__stop_ppagent_hidden_frames);
}

}  // namespace ppagent
