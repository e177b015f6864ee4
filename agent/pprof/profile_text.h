// The debug=1 text form of a profile, read back from its encoded
// (uncompressed) profile.proto: a header line, then per sample (largest
// first value first) its values and addresses and one line per frame.
#pragma once

#include <string>
#include <string_view>

namespace ppagent {

// Pure: no allocation outside the strings, no symbolization (the names are
// the profile's own). False with a reason in *error for bytes that are not a
// well-formed profile.
bool profile_text(std::string_view encoded, std::string_view name, std::string* text,
                  std::string* error);

}  // namespace ppagent
