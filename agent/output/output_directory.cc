#include "output/output_directory.h"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/thread_random.h"

namespace ppagent {

namespace {

std::atomic<mode_t> g_file_mode{0600};

}  // namespace

void set_profile_file_mode(mode_t mode) { g_file_mode.store(mode & 07777); }
mode_t profile_file_mode() { return g_file_mode.load(); }

int open_output_directory(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    errno = EINVAL;
    return -1;
  }
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  size_t start = 1;
  while (fd >= 0 && start < dir.size()) {
    size_t end = dir.find('/', start);
    if (end == std::string::npos) end = dir.size();
    std::string component = dir.substr(start, end - start);
    start = end + 1;
    if (component.empty() || component == ".") continue;
    int next = openat(fd, component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(fd);
    errno = saved;
    fd = next;
  }
  return fd;
}

int create_temporary_file(int dirfd, const std::string& name, std::string* temp_name) {
  static const char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const mode_t mode = profile_file_mode();
  for (int attempt = 0; attempt < 100; attempt++) {
    std::string candidate = "." + name + ".";
    uint64_t r = thread_random();
    for (int i = 0; i < 6; i++, r /= 62) candidate.push_back(kLetters[r % 62]);
    // O_EXCL: a name that exists, even as a dangling link, is never opened.
    int fd = openat(dirfd, candidate.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return -1;
    }
    // The program's umask must not decide who can read its profiles.
    if (fchmod(fd, mode) != 0) {
      int saved = errno;
      close(fd);
      unlinkat(dirfd, candidate.c_str(), 0);
      errno = saved;
      return -1;
    }
    *temp_name = candidate;
    return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace ppagent
