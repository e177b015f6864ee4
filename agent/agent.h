// The agent's lifecycle: start from the preload constructor, write profiles
// on the way out. Interposed symbols live in interpose_*.cc.
#pragma once

namespace ppagent {

// True once the constructor has run and some profiling is on.
bool agent_active();

// Writes every enabled profile once (later calls return at once). Safe to
// call from exit paths and from the agent's own thread, not from a handler.
void write_profiles_at_end();

}  // namespace ppagent
