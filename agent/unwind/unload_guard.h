// Keeps loaded objects mapped while walks read their unwind tables in place.
// A walk counts itself in flight before it reads any module's memory; an
// unload (the interposed dlclose, unwind/interpose_dlclose.cc) marks itself
// in progress and waits until no counted walk is left before the loader may
// unmap anything. A walk that starts during an unload reads no module memory
// at all: it uses cached rules only and stops at the first miss.
//
// Unloads that bypass the exported dlclose (glibc's internal ones, such as
// iconv modules) are not waited for; they are seen at the next refresh. A
// walk reads a module's tables only for a pc it found in that module, which
// for a correctly unwound stack is code still in use, so still mapped.
#pragma once

namespace ppagent {

// Async-signal-safe: one atomic increment and one load.
class WalkGuard {
 public:
  WalkGuard();
  ~WalkGuard();
  WalkGuard(const WalkGuard&) = delete;
  WalkGuard& operator=(const WalkGuard&) = delete;

  // False during an unload: no module memory may be read.
  bool may_read_modules() const { return counted_; }

 private:
  bool counted_;
};

// Walks that may be reading module memory (or a module snapshot) right now.
int walks_reading_modules();

// Normal context. Marks an unload in progress and returns once no counted
// walk is left (or, should one never end, after 2 s with one `ppagent:` line).
void begin_unload();
// Clears the mark of one begin_unload().
void end_unload();

// In a forked child: the parent's other threads, their walks and their
// unloads, do not exist there.
void reset_unload_guard_in_child();

}  // namespace ppagent
