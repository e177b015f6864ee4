// The agent's lifecycle: start from the preload constructor, write profiles
// on the way out. Interposed symbols live in interpose/; what they and the
// live endpoint read of the agent's state, agent.cc publishes through
// base/agent_state.h.
#pragma once

namespace ppagent {

// Writes every enabled profile once (later calls return at once). Safe to
// call from exit paths and from the agent's own thread, not from a handler.
void write_profiles_at_end();

}  // namespace ppagent
