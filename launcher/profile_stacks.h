// What every view of a profile (`ppagent top`, `ppagent flame`) needs from it:
// which value of a sample to show, which samples to keep (-focus, -tagfocus),
// and each kept sample as a stack of named frames, leaf first. The rules are
// pprof's (github.com/google/pprof), so that numbers agree with `go tool pprof`.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "profile_reader.h"

namespace ppagent::profile {

// Picks the sample type to show, as pprof's -sample_index does: `name` empty
// means the profile's default_sample_type, else the last type; a number is an
// index; otherwise a type name ("alloc_space"), "inuse_" optional before a type
// named "space" or "objects". Returns false and sets *error (one line, no
// "ppagent:" prefix, listing the valid names) when there is no such type.
bool pick_sample_index(const Profile& profile, const std::string& name, size_t* index,
                       std::string* error);

// One frame of a stack. Each line of a location is one frame; all but the
// location's last line (the outermost function) are inlined into the next.
struct Frame {
  // The function's name as pprof shows it. A location without a function name
  // (a profile written without symbols) is named by where its address falls:
  // "libc.so.6+0x2a1c0" (the mapping file's base name and the offset in that
  // file), or "0x7f12345678" when no mapping with a file name covers it.
  std::string name;
  std::string file;  // the function's source file; may be empty
  int64_t line = 0;  // 0: unknown
  bool inlined = false;
  // False when `name` is the address fallback above. `go tool pprof -top`
  // shows such frames as one row per mapping, "[libc.so.6]" (or "<unknown>"
  // without a mapping file): that is `pprof_name`.
  bool has_name = true;
  std::string mapping_file;  // for a frame without a name: its mapping's file, "" if none
  std::string pprof_name() const;

  bool operator==(const Frame& other) const {
    return name == other.name && file == other.file && line == other.line &&
           inlined == other.inlined && has_name == other.has_name &&
           mapping_file == other.mapping_file;
  }
};

// Which samples to keep, with pprof's meanings. Empty strings keep everything.
struct SampleFilter {
  // -focus=REGEX: keep a sample when one of its frames' function name or source
  // file, or the file of the mapping of one of its locations, contains a match.
  // The syntax is POSIX's extended regular expressions (glibc's regcomp, with
  // its \w \s \b extensions), which Go's RE2 agrees with on the usual
  // patterns (alternation, groups, classes, anchors, .*, +, ?, {m,n}).
  std::string focus;
  // -tagfocus=KEY=VALUE or -tagfocus=VALUE, on the samples' labels. VALUE is
  // either a numeric range of a numeric label ("4096", "1kb:", ":2mb",
  // "10ms:1s"; units as pprof's: b kb mb gb tb pb, ns us ms s hr; a label's
  // unit is the first its key has in the profile, else guessed from the key
  // as pprof does: "bytes" for alignment and request, else the key), or
  // comma-separated regexes: with KEY, a sample is kept when any regex matches
  // one of its values for KEY; without KEY, when every regex matches one of its
  // "key:value" pairs.
  std::string tagfocus;
};

// A profile's samples as stacks of frames, after filtering. Frames are interned
// (equal frames share an index), so a large profile stays small here.
struct Stacks {
  struct Stack {
    std::vector<uint32_t> frames;  // indices into `frames`, leaf first
    int64_t value = 0;             // the sample's value at the chosen index
    size_t sample = 0;             // its position in Profile::samples
  };
  std::vector<Frame> frames;
  std::vector<Stack> stacks;  // kept samples, in the profile's order
  int64_t total = 0;          // sum of the kept samples' values
};

// Builds the stacks of the samples that `filter` keeps, with the values of
// sample type `sample_index` (which must be valid). Samples whose value is 0 are
// kept too (a view may skip them). Returns false and sets *error (one line) when
// a filter does not parse.
bool collect_stacks(const Profile& profile, size_t sample_index, const SampleFilter& filter,
                    Stacks* out, std::string* error);

}  // namespace ppagent::profile
