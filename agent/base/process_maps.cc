#include "base/process_maps.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <fcntl.h>
#include <string_view>
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

namespace {

// Hex digits at *at up to the first other character; false when there are none.
bool read_hex(std::string_view line, size_t* at, unsigned long* value) {
  const size_t start = *at;
  *value = 0;
  for (; *at < line.size(); ++*at) {
    const char c = line[*at];
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) break;
    *value = *value << 4 | static_cast<unsigned long>(digit);
  }
  return *at > start;
}

// Past the next field and the spaces after it.
void skip_field(std::string_view line, size_t* at) {
  while (*at < line.size() && line[*at] != ' ') ++*at;
  while (*at < line.size() && line[*at] == ' ') ++*at;
}

}  // namespace

// A line is "START-LIMIT PERMS OFFSET DEV INODE   PATH", PATH being the rest
// of the line (it may hold spaces). Parsed by hand: sscanf took half of the
// agent's instructions in a process that takes no sample.
std::vector<MapEntry> parse_executable_mappings(const std::string& maps_text,
                                                const std::string& main_executable) {
  std::vector<MapEntry> entries;
  std::string_view text(maps_text);
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    MapEntry e;
    unsigned long start, limit, offset;
    size_t at = 0;
    if (!read_hex(line, &at, &start) || at >= line.size() || line[at++] != '-' ||
        !read_hex(line, &at, &limit) || at + 6 > line.size() || line[at] != ' ' ||
        line[at + 3] != 'x' || line[at + 5] != ' ')
      continue;
    at += 6;  // " rwxp "
    if (!read_hex(line, &at, &offset)) continue;
    while (at < line.size() && line[at] == ' ') at++;
    skip_field(line, &at);  // device
    skip_field(line, &at);  // inode
    if (at >= line.size()) continue;  // anonymous executable memory (JIT): nothing to name it by
    e.start = start;
    e.limit = limit;
    e.offset = offset;
    e.path = std::string(line.substr(at));
    e.deleted = strip_deleted(&e.path);
    if (e.path.empty()) continue;
    e.main_executable = e.path == main_executable;
    entries.push_back(e);
  }
  std::stable_partition(entries.begin(), entries.end(),
                        [](const MapEntry& e) { return e.main_executable; });
  return entries;
}

namespace {

__thread const OneMappingsRead* t_one_read __attribute__((tls_model("initial-exec"))) = nullptr;

std::vector<MapEntry> read_now() {
  // thread-self, not self: once the main thread has ended (pthread_exit) the
  // process's own entries show nothing, the calling thread's still do.
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/thread-self/exe", exe, sizeof exe - 1);
  std::string main_executable = n > 0 ? std::string(exe, n) : std::string();
  strip_deleted(&main_executable);
  return parse_executable_mappings(read_file("/proc/thread-self/maps"), main_executable);
}

}  // namespace

OneMappingsRead::OneMappingsRead() : entries_(read_now()), outer_(t_one_read) { t_one_read = this; }

OneMappingsRead::~OneMappingsRead() { t_one_read = outer_; }

std::vector<MapEntry> read_executable_mappings() {
  return t_one_read != nullptr ? t_one_read->entries_ : read_now();
}

}  // namespace ppagent
