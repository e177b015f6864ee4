#include "output/profile_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "output/output_directory.h"
#include "output/write_failure_log.h"

namespace ppagent {

std::string gzip(const std::string& data) {
  z_stream z{};
  // The smallest window that holds the whole profile, and a hash table to
  // match: zlib's default state is 256 KiB, which a short process's profile
  // of a few KiB would touch (and fault in) for nothing. Every reader inflates
  // any window size. windowBits + 16 selects the gzip wrapper.
  int window_bits = 9;
  while (window_bits < 15 && (size_t{1} << window_bits) < data.size()) window_bits++;
  const int memory_level = window_bits - 7;  // 15: zlib's default, 8
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, window_bits + 16, memory_level,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return std::string();
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

// Longest program part of a name: with the pid and the longest kind the name
// stays far below NAME_MAX (255).
constexpr size_t kMaxProgramPart = 128;

std::string profile_file_name(const std::string& program, int pid, const std::string& kind) {
  std::string safe;
  // No '/' (the name stays inside the output directory) and no control
  // characters (a newline would split the report file's one-path-per-line).
  for (char c : program) {
    if (safe.size() == kMaxProgramPart) break;
    unsigned char u = static_cast<unsigned char>(c);
    safe.push_back(c == '/' || u < 0x20 || u == 0x7f ? '_' : c);
  }
  // No hidden names (temporary files start with '.'), no "." or "..".
  if (safe.empty() || safe[0] == '.') safe.insert(0, "program");
  return safe + "." + std::to_string(pid) + "." + kind + ".pb.gz";
}

static bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ENOSPC;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool write_profile_file(const std::string& dir, const std::string& name,
                        const std::string& serialized, std::string* error) {
  const std::string target = dir + "/" + name;
  std::string compressed = gzip(serialized);
  if (compressed.empty()) {
    *error = "cannot compress " + target;
    return false;
  }
  // Everything below is relative to this fd: the directory it names cannot
  // be swapped for another between the steps.
  int dirfd = open_output_directory(dir);
  if (dirfd < 0) {
    *error = write_failure_message(dir, errno, name);
    return false;
  }
  std::string temp;
  int fd = create_temporary_file(dirfd, name, &temp);
  if (fd < 0) {
    *error = write_failure_message(dir, errno, name);
    close(dirfd);
    return false;
  }
  // No fsync: the rename makes the file whole for every reader, and a
  // profile need not outlive a crash of the machine; fsync cost a short
  // process a millisecond per file.
  bool written = write_all(fd, compressed);
  int saved = errno;
  if (close(fd) != 0 && written) {
    written = false;
    saved = errno;
  }
  bool ok = false;
  if (!written) {
    *error = write_failure_message(dir, saved, name);
  } else if (linkat(dirfd, temp.c_str(), dirfd, name.c_str(), 0) == 0) {
    // link() fails with EEXIST instead of replacing, on every filesystem, and
    // does not follow a link planted at the name.
    ok = true;
  } else if (errno == EEXIST) {
    *error = target + " already exists and is not overwritten; remove or rename it to get "
             "this profile next time";
  } else {
    *error = write_failure_message(dir, errno, name);
  }
  unlinkat(dirfd, temp.c_str(), 0);
  close(dirfd);
  if (ok) note_write_success(dir);
  return ok;
}

}  // namespace ppagent
