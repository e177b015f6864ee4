#include "process_maps.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <fcntl.h>
#include <sstream>
#include <unistd.h>

namespace ppagent {

namespace {

std::string read_file(const char* path) {
  std::string text;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  close(fd);
  return text;
}

// Removes a " (deleted)" suffix; says whether there was one.
bool strip_deleted(std::string* path) {
  static const std::string kDeleted = " (deleted)";
  if (path->size() > kDeleted.size() &&
      path->compare(path->size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    path->resize(path->size() - kDeleted.size());
    return true;
  }
  return false;
}

}  // namespace

std::vector<MapEntry> parse_executable_mappings(const std::string& maps_text,
                                                const std::string& main_executable) {
  std::vector<MapEntry> entries;
  std::istringstream lines(maps_text);
  std::string line;
  while (std::getline(lines, line)) {
    unsigned long start, limit, offset;
    char perms[8] = {};
    int path_at = 0;
    if (sscanf(line.c_str(), "%lx-%lx %7s %lx %*s %*s %n", &start, &limit, perms, &offset, &path_at) < 4)
      continue;
    if (perms[2] != 'x') continue;
    MapEntry e;
    e.start = start;
    e.limit = limit;
    e.offset = offset;
    if (path_at > 0 && static_cast<size_t>(path_at) < line.size()) {
      e.path = line.substr(path_at);
      e.deleted = strip_deleted(&e.path);
    }
    if (e.path.empty()) continue;  // anonymous executable memory (JIT): nothing to name it by
    e.main_executable = e.path == main_executable;
    entries.push_back(e);
  }
  std::stable_partition(entries.begin(), entries.end(),
                        [](const MapEntry& e) { return e.main_executable; });
  return entries;
}

std::vector<MapEntry> read_executable_mappings() {
  // thread-self, not self: once the main thread has ended (pthread_exit) the
  // process's own entries show nothing, the calling thread's still do.
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/thread-self/exe", exe, sizeof exe - 1);
  std::string main_executable = n > 0 ? std::string(exe, n) : std::string();
  strip_deleted(&main_executable);
  return parse_executable_mappings(read_file("/proc/thread-self/maps"), main_executable);
}

}  // namespace ppagent
