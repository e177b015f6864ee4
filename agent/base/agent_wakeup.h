// Waking the agent's thread from signal handlers without a file descriptor.
//
// A pipe broke when a daemon closed every descriptor, and a program file that
// reused its number could receive the agent's bytes. Here a handler sets the
// signal's bit in a pending mask and wakes the thread through a futex word:
// plain memory and one system call, async-signal-safe, nothing a program can
// close or reuse.
#pragma once

#include <cstdint>

namespace ppagent {

// Async-signal-safe: marks `signo` (1..64) pending and wakes the agent's thread.
// Several posts of one signal before the thread looks make one pending bit.
void wakeup_post(int signo);

// Async-signal-safe: wakes the agent's thread without a signal, to look at
// the process again (a program thread ended).
void wakeup_nudge();

// Waits until some signal is pending, a nudge came or `timeout_ms` has
// passed, then returns the pending signals as a mask (bit signo-1) and clears
// them. 0 = timed out or nudged.
uint64_t wakeup_wait(int timeout_ms);

// Requests that a caller waits on until the agent's thread has served them
// (a crashing thread waiting for its profiles to be written).
// Async-signal-safe: the generation the caller will wait past.
uint32_t wakeup_served_generation();
// Async-signal-safe: waits until the served generation is beyond `generation`
// or `timeout_ms` has passed. True if served.
bool wakeup_wait_served(uint32_t generation, int timeout_ms);
// The agent's thread: everything posted so far has been served.
void wakeup_mark_served();

// In a forked child: nothing pending, nobody waiting.
void wakeup_reset();

inline uint64_t signal_bit(int signo) { return uint64_t{1} << (signo - 1); }

}  // namespace ppagent
