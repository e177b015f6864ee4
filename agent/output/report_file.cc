#include "output/report_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ppagent {

bool append_report_line(const std::string& path, const std::string& line) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.compare(0, 15, "ppagent-report.") != 0) return false;
  // No O_CREAT: the launcher made the file. O_NOFOLLOW: not through a link.
  // O_NONBLOCK: a FIFO planted at the name cannot block the agent (and is refused below).
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
              (st.st_mode & 077) == 0 && st.st_nlink == 1;
  bool appended = false;
  if (ours) {
    std::string text = line + "\n";
    appended = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  close(fd);
  return appended;
}

}  // namespace ppagent
