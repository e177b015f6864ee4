#include "output/owned_profile_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output/output_directory.h"
#include "output/profile_file.h"
#include "output/write_failure_log.h"

namespace ppagent {

namespace {

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// A complete, synced temporary file next to the target; its identity in *st.
bool write_temporary(const std::string& dir, const std::string& name, const std::string& data,
                     std::string* temp, struct stat* st, std::string* error) {
  // Created new (never through a link), with PPROF_FILE_MODE, in the
  // directory reached without links (output_directory.h).
  int dirfd = open_output_directory(dir);
  std::string temp_name;
  int fd = dirfd < 0 ? -1 : create_temporary_file(dirfd, name, &temp_name);
  int saved_errno = errno;
  if (dirfd >= 0) close(dirfd);
  if (fd < 0) {
    *error = write_failure_message(dir, saved_errno, name);
    return false;
  }
  *temp = dir + "/" + temp_name;
  // No fsync, as in profile_file.cc.
  bool ok = write_all(fd, data) && fstat(fd, st) == 0;
  int saved = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    unlink(temp->c_str());
    *error = write_failure_message(dir, saved, name);
  }
  return ok;
}

}  // namespace

OwnedWrite write_owned_profile_file(const std::string& dir, const std::string& name,
                                    const std::string& serialized, OwnedFile* owned,
                                    std::string* error) {
  const std::string target = dir + "/" + name;
  std::string compressed = gzip(serialized);
  if (compressed.empty()) {
    *error = "cannot compress " + target;
    return OwnedWrite::kFailed;
  }
  std::string temp;
  struct stat written;
  if (!write_temporary(dir, name, compressed, &temp, &written, error)) return OwnedWrite::kFailed;

  if (owned->created) {
    struct stat current;
    if (lstat(target.c_str(), &current) == 0) {
      if (current.st_dev != owned->dev || current.st_ino != owned->ino) {
        unlink(temp.c_str());
        *error = target + " is no longer the file this process wrote; not overwritten";
        return OwnedWrite::kFailed;
      }
      // rename() replaces atomically: a reader sees the old or the new file.
      if (rename(temp.c_str(), target.c_str()) != 0) {
        int saved = errno;
        unlink(temp.c_str());
        *error = "cannot replace " + target + ": " + strerror(saved);
        return OwnedWrite::kFailed;
      }
      owned->dev = written.st_dev;
      owned->ino = written.st_ino;
      note_write_success(dir);
      return OwnedWrite::kReplaced;
    }
    // Our file was removed meanwhile: create the name afresh below.
  }
  // link() fails with EEXIST instead of replacing, on every filesystem.
  if (link(temp.c_str(), target.c_str()) != 0) {
    int saved = errno;
    unlink(temp.c_str());
    *error = saved == EEXIST ? target + " already exists; not overwritten"
                             : "cannot create " + target + ": " + strerror(saved);
    return OwnedWrite::kFailed;
  }
  unlink(temp.c_str());
  owned->created = true;
  owned->dev = written.st_dev;
  owned->ino = written.st_ino;
  note_write_success(dir);
  return OwnedWrite::kCreated;
}

}  // namespace ppagent
