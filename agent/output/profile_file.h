// Writing a finished profile: gzip, a temporary file in the output directory,
// then a rename that never replaces an existing file.
#pragma once

#include <string>

namespace ppagent {

std::string gzip(const std::string& data);

// Writes gzip(serialized) to dir/name. Returns false with a one-line reason
// in *error (and no file left behind) on any failure, including when
// dir/name already exists.
bool write_profile_file(const std::string& dir, const std::string& name,
                        const std::string& serialized, std::string* error);

// "<program>.<pid>.<kind>.pb.gz", with the program name made safe for a path.
std::string profile_file_name(const std::string& program, int pid, const std::string& kind);

}  // namespace ppagent
