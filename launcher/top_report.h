// The text of `ppagent top`: the report `go tool pprof -top` prints, computed
// by pprof's rules (github.com/google/pprof, internal/report and internal/graph)
// so that the rows and their numbers are the same:
//  - one row per function name; inlined functions are rows of their own,
//    marked "(inline)" (or "(partial-inline)" when also called normally);
//  - flat: the samples' values where the function is the leaf; cum: where it
//    is anywhere on the stack, counted once per sample (recursion);
//  - percentages of the total of all samples before -focus and -tagfocus;
//  - nodes whose |cum| is under 0.5% of the shown total dropped (pprof's
//    -nodefraction default), then the first -nodecount rows kept;
//  - sorted by |flat| (or |cum| with -cum), then name;
//  - values in one unit for the whole report, pprof's "minimum" choice.
//  - locations without a function name: one row per mapping, "[libc.so.6]".
// Where pprof differs: -focus and -tagfocus regexes are POSIX extended ones,
// not RE2's; drop_frames/keep_frames are not applied.
#pragma once

#include <string>

#include "profile_reader.h"
#include "profile_stacks.h"

namespace ppagent::profile {

struct TopOptions {
  int nodecount = 0;         // <= 0: every row that survives the node fraction
  std::string sample_index;  // empty: pprof's default (see pick_sample_index)
  bool cum = false;          // sort by cum instead of flat
  SampleFilter filter;
};

// Writes the whole report (header lines, column titles, rows) to *text.
// Returns false and sets *error (one line, no "ppagent:" prefix) when an
// option does not fit the profile (sample index, regex).
bool top_report(const Profile& profile, const TopOptions& options, std::string* text,
                std::string* error);

}  // namespace ppagent::profile
