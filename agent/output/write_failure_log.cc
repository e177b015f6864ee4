#include "output/write_failure_log.h"

#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <set>

#include "base/log.h"

namespace ppagent {

namespace {

constexpr char kNotWritten[] = "; not written: ";
constexpr char kRetry[] = "; the next dump, flush or the exit tries again";

// Causes logged since the last successful write. Writes happen on the
// agent's thread and at exit, rarely at the same time; a plain mutex (the
// program's locks are not involved: callers are inside AgentScope).
pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
std::set<std::string>* g_logged = nullptr;
bool g_directory_failed = false;  // a logged cause was the directory's, not one file's

std::string cause_and_advice(const std::string& dir, int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return std::string("no space left on its device (") + strerror(err) +
             "); free some space" + kRetry;
    case EROFS:
      return "its file system is read-only; remount it read-write or start the program with "
             "PPROF_OUTPUT_DIR set to a writable directory" + std::string(kRetry);
    case ENOENT:
      return "it no longer exists; create it again (mkdir -p " + dir + ")" + kRetry;
    case ELOOP:
    case ENOTDIR:
      return "a part of its path is now a symbolic link or not a directory, and profiles are "
             "never written through a link; put the directory back" + std::string(kRetry);
    case EACCES:
    case EPERM:
      return "permission denied; let this program's user create files there" +
             std::string(kRetry);
    case EMFILE:
    case ENFILE:
      return std::string("no file descriptor available (") + strerror(err) + ")" + kRetry;
    default:
      return std::string(strerror(err)) + kRetry;
  }
}

}  // namespace

std::string write_failure_message(const std::string& dir, int err, const std::string& name) {
  return "cannot write profiles to " + dir + ": " + cause_and_advice(dir, err) + kNotWritten +
         name;
}

void log_write_failure(const std::string& message) {
  size_t at = message.find(kNotWritten);
  std::string cause = at == std::string::npos ? message : message.substr(0, at);
  pthread_mutex_lock(&g_mutex);
  if (g_logged == nullptr) g_logged = new std::set<std::string>();
  bool first = g_logged->insert(cause).second;
  if (at != std::string::npos) g_directory_failed = true;
  pthread_mutex_unlock(&g_mutex);
  if (first) log_line("%s", message.c_str());
}

void note_write_success(const std::string& dir) {
  pthread_mutex_lock(&g_mutex);
  bool had_failures = g_directory_failed;
  g_directory_failed = false;
  if (g_logged != nullptr) g_logged->clear();
  pthread_mutex_unlock(&g_mutex);
  if (had_failures) log_line("writing profiles to %s works again", dir.c_str());
}

}  // namespace ppagent
