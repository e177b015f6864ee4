// Profile files this process may rewrite: the final-name profiles (cpu, heap,
// allocs, mutex, block) that the periodic flush writes again and again and the
// exit writes a last time.
//
// "Never overwrite" still holds for every file the process did not create: the
// first write creates the file with link(), which fails if the name exists;
// later writes replace it (rename of a complete temporary file) only while the
// name still holds the very file (device and inode) this process wrote last.
#pragma once

#include <string>
#include <sys/types.h>

namespace ppagent {

// What this process wrote under one name.
struct OwnedFile {
  bool created = false;  // a file of ours is (or was) at the name
  dev_t dev = 0;
  ino_t ino = 0;
};

enum class OwnedWrite {
  kCreated,   // the name was free; the file is new
  kReplaced,  // our earlier file was replaced
  kFailed,    // *error says why; nothing changed at the name, no temporary left
};

// Writes gzip(serialized) to dir/name as described above. Temporary files are
// named "." + name + ".XXXXXX" in dir (a kill at the wrong moment may leave
// one; their names start with '.').
OwnedWrite write_owned_profile_file(const std::string& dir, const std::string& name,
                                    const std::string& serialized, OwnedFile* owned,
                                    std::string* error);

}  // namespace ppagent
