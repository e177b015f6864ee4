#include "profile_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace ppagent {

std::string gzip(const std::string& data) {
  z_stream z{};
  // windowBits 15 + 16 selects the gzip wrapper.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
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

std::string profile_file_name(const std::string& program, int pid, const std::string& kind) {
  std::string safe;
  for (char c : program) safe.push_back(c == '/' || c == '\0' ? '_' : c);
  if (safe.empty() || safe[0] == '.') safe.insert(0, "program");
  return safe + "." + std::to_string(pid) + "." + kind + ".pb.gz";
}

static bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
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
  std::string temp = dir + "/." + name + ".XXXXXX";
  int fd = mkostemp(&temp[0], O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot create a file in " + dir + ": " + strerror(errno);
    return false;
  }
  bool written = write_all(fd, compressed) && fsync(fd) == 0;
  int saved = errno;
  if (close(fd) != 0 && written) {
    written = false;
    saved = errno;
  }
  if (!written) {
    unlink(temp.c_str());
    *error = "cannot write " + target + ": " + strerror(saved);
    return false;
  }
  // link() fails with EEXIST instead of replacing, on every filesystem.
  if (link(temp.c_str(), target.c_str()) != 0) {
    saved = errno;
    unlink(temp.c_str());
    *error = saved == EEXIST ? target + " already exists; not overwritten"
                             : "cannot create " + target + ": " + strerror(saved);
    return false;
  }
  unlink(temp.c_str());
  return true;
}

}  // namespace ppagent
