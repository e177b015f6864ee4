// Creating profile files so that nothing in the environment or the file
// system can redirect them: the output directory is opened without following
// any symbolic link on its path, and every file is created new (O_EXCL,
// O_NOFOLLOW) relative to that open directory, with an exact mode.
#pragma once

#include <string>
#include <sys/types.h>

namespace ppagent {

// Opens the absolute path `dir` one component at a time with O_NOFOLLOW, so
// that a component replaced by a symbolic link after start is refused (ELOOP
// or ENOTDIR) instead of followed out of the directory. Returns the directory
// fd (O_CLOEXEC; the caller closes it) or -1 with errno set.
int open_output_directory(const std::string& dir);

// Creates a new, empty file "." + name + ".XXXXXX" (random suffix) in
// `dirfd` with mode profile_file_mode() exactly (the umask does not apply).
// Never opens an existing file or a link. Returns the fd and the file's name
// in *temp_name, or -1 with errno set.
int create_temporary_file(int dirfd, const std::string& name, std::string* temp_name);

// PPROF_FILE_MODE: the permissions of profile files, 0600 unless configured.
void set_profile_file_mode(mode_t mode);
mode_t profile_file_mode();

}  // namespace ppagent
