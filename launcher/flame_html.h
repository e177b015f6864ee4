// The flame-graph page of a profile: one self-contained HTML file (the page of
// flame_page.h with the profile's stacks, merged into a FlameTree, inside it).
#pragma once

#include <stddef.h>

#include <string>

#include "profile_reader.h"

namespace ppagent {

// The page for `profile`, headed by `title`, showing sample type
// `default_type` first (the others can be chosen in the page). Empty only when
// compressing the data failed (out of memory).
std::string flame_html(const profile::Profile& profile, const std::string& title,
                       size_t default_type);

// Reads the profile at `profile_path` and writes its page to `page_path`, with the
// permissions of the profile file (the page tells as much as the profile does).
// `sample_index` as pprof's -sample_index (empty: the profile's default type).
// On failure returns false and sets *error to one line without "ppagent:";
// *usage is then true when `sample_index` named no type of the profile.
bool write_flame_page(const std::string& profile_path, const std::string& sample_index,
                      const std::string& page_path, std::string* error, bool* usage);

}  // namespace ppagent
