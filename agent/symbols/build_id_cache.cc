#include "symbols/build_id_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/log.h"
#include "symbols/elf_file.h"

namespace ppagent {

namespace {

// Plain data, set from the agent's constructor, which may run before this
// file's static constructors would have (a std::string here was reset after).
const std::string* g_directory = nullptr;
bool g_named_by_user = false;
std::atomic<bool> g_reported{false};

void report(const char* what, int error) {
  if (!g_named_by_user || g_reported.exchange(true)) return;
  log_line("PPROF_CACHE_DIR=\"%s\": cannot %s (%s); symbol indexes and compressed debug "
           "sections are made anew in each process instead (name a directory of yours, or off)",
           g_directory->c_str(), what, strerror(error));
}

// Makes `path` and its missing parents, mode 0700. The last must then be a
// directory of this user's that no one else may write to.
bool ensure_private_directory(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      report("create the directory", errno);
      return false;
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    report("use the directory", errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    report("use the directory", EACCES);
    return false;
  }
  return true;
}

}  // namespace

void configure_build_id_cache(const std::string& directory, bool named_by_user) {
  delete g_directory;
  g_directory = directory.empty() ? nullptr : new std::string(directory);
  g_named_by_user = named_by_user;
}

std::string build_id_cache_path(const std::string& build_id, const char* suffix) {
  if (g_directory == nullptr || build_id.empty()) return std::string();
  return *g_directory + "/" + hex_string(build_id) + suffix;
}

int open_build_id_cache_entry(const std::string& path, const void* header, size_t compared,
                              uint64_t* size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  std::vector<uint8_t> found(compared);
  const bool valid = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
                     pread(fd, found.data(), compared, 0) == static_cast<ssize_t>(compared) &&
                     memcmp(found.data(), header, compared) == 0;
  if (valid) {
    *size = static_cast<uint64_t>(st.st_size);
    return fd;
  }
  close(fd);
  return -1;
}

BuildIdCacheWriter::~BuildIdCacheWriter() {
  if (fd_ < 0) return;
  close(fd_);
  unlink(temporary_.c_str());
}

bool BuildIdCacheWriter::begin() {
  if (g_directory == nullptr || !ensure_private_directory(*g_directory)) return false;
  temporary_ = *g_directory + "/.entry-XXXXXX";
  fd_ = mkostemp(temporary_.data(), O_CLOEXEC);
  if (fd_ < 0) report("write in the directory", errno);
  return fd_ >= 0;
}

bool BuildIdCacheWriter::write(const void* data, uint64_t size, uint64_t offset) {
  // pwrite, not a shared writable mapping: a full disk then fails a call
  // instead of raising SIGBUS in the host.
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (!failed_ && size > 0) {
    ssize_t n = pwrite(fd_, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      report("write an entry", n < 0 ? errno : ENOSPC);
      failed_ = true;
      break;
    }
    bytes += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return !failed_;
}

bool BuildIdCacheWriter::commit(uint64_t size) {
  if (fd_ < 0 || failed_) return false;
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0 || rename(temporary_.c_str(), path_.c_str()) != 0) {
    report("write an entry", errno);
    return false;  // the destructor removes the temporary file
  }
  close(fd_);
  fd_ = -1;
  return true;
}

bool fill_file_entry_header(const char (&magic)[8], uint32_t version, const std::string& build_id,
                            uint64_t file_size, FileEntryHeader* header) {
  if (build_id.empty() || build_id.size() > FileEntryHeader::kMaxBuildId) return false;
  memset(header, 0, sizeof *header);
  memcpy(header->magic, magic, sizeof header->magic);
  header->version = version;
  header->build_id_size = static_cast<uint32_t>(build_id.size());
  memcpy(header->build_id, build_id.data(), build_id.size());
  header->file_size = file_size;
  return true;
}

}  // namespace ppagent
