// Every kind of profile the agent makes, in one table: the exit write, dumps,
// flushes and the live endpoint all name a kind from here, so a kind is
// added in one place.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/agent_state.h"

namespace ppagent {

enum class ProfileKind { kCpu, kHeap, kAllocs, kMutex, kBlock, kThreads, kThreadCreate, kWall };

struct ProfileKindInfo {
  ProfileKind kind;
  const char* file_name;    // <program>.<pid>.<file_name>[.<n>].pb.gz
  const char* url_name;     // /debug/pprof/<url_name>: Go's name for it
  const char* url_alias;    // also served under this name, or nullptr
  const char* description;  // the live endpoint's index page: Go's words where Go has the kind
                            // (wall: a path Go does not have)
  // Recorded only when this is on (null: whenever the agent is active).
  bool AgentState::*on;
  // When off: what turns it on, as the live endpoint answers.
  const char* how_to_enable;
  bool written_at_exit;  // and rewritten by each flush, under the final name
};

constexpr size_t kProfileKindCount = 8;  // the enumerators

// In the order of the live endpoint's index page.
extern const ProfileKindInfo kProfileKinds[kProfileKindCount];

const ProfileKindInfo& profile_kind_info(ProfileKind kind);

// The kind served at /debug/pprof/<name> (its URL name or alias); false if none.
bool profile_kind_by_url_name(std::string_view name, ProfileKind* kind);

}  // namespace ppagent
