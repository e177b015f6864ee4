#include "base/log.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <unistd.h>

namespace ppagent {

void log_line(const char* fmt, ...) {
  int saved_errno = errno;
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "ppagent: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : (m >= (int)(sizeof buf - n - 1) ? sizeof buf - n - 2 : m));
  buf[len++] = '\n';
  // One write() so that the line is not interleaved with the host's output.
  ssize_t ignored = write(STDERR_FILENO, buf, len);
  (void)ignored;
  errno = saved_errno;
}

}  // namespace ppagent
