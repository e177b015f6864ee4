// Profiles made on demand while the program runs, for the HTTP endpoint
// (/debug/pprof/<name>): the current state, or the difference over a window
// of `seconds`, as gzipped profile.proto or as text. (Dumps by signal are
// written by agent.cc.)
// Everything here runs on an agent thread, never in a signal handler.
#pragma once

#include <functional>
#include <string>

#include "pprof/profile_kind.h"

namespace ppagent {

struct LiveRequest {
  ProfileKind kind = ProfileKind::kHeap;
  // kCpu: the window (0 means Go's default, 30). Others: 0 = the current
  // state, N > 0 = snapshot, wait N seconds, snapshot, second minus first.
  int seconds = 0;
  bool text = false;  // debug=1: human-readable text instead of gzipped protobuf
  // Polled (about every 100 ms) while waiting: true once the client is gone,
  // which ends the wait early and the result is thrown away.
  std::function<bool()> cancelled;
};

struct LiveResult {
  int status = 200;  // 200, or the HTTP status of the error
  // The gzipped profile, the text (debug=1), or for an error a one-line
  // message (no trailing newline) that says what to do.
  std::string body;
  std::string content_type;  // "application/octet-stream" or "text/plain; charset=utf-8"
};

LiveResult produce_live_profile(const LiveRequest& request);

// Whether the kind can be produced in this process; if not, *how_to_enable
// says which variable (and launcher flag) turns it on.
bool live_kind_enabled(ProfileKind kind, std::string* how_to_enable);

}  // namespace ppagent
