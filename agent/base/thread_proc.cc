#include "base/thread_proc.h"

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ppagent {

namespace {

// Reads a small /proc file whole; returns the bytes read (0 on failure).
size_t read_task_file(pid_t tid, const char* name, char* buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/%s", static_cast<int>(tid), name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t used = 0;
  while (used + 1 < size) {
    const size_t wanted = size - 1 - used;
    ssize_t n = read(fd, buf + used, wanted);
    if (n <= 0) break;
    used += static_cast<size_t>(n);
    // These files come whole in one read that fits, ending in a newline:
    // no second read to find the end (a system call per thread and tick
    // for the wall sampler).
    if (static_cast<size_t>(n) < wanted && buf[used - 1] == '\n') break;
  }
  close(fd);
  buf[used] = '\0';
  return used;
}

}  // namespace

std::vector<pid_t> list_threads() {
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return tids;
  while (struct dirent* entry = readdir(dir)) {
    if (!isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
    tids.push_back(static_cast<pid_t>(atoi(entry->d_name)));
  }
  closedir(dir);
  return tids;
}

std::string read_thread_name(pid_t tid) {
  char buf[64];
  size_t n = read_task_file(tid, "comm", buf, sizeof buf);
  while (n > 0 && buf[n - 1] == '\n') n--;
  return std::string(buf, n);
}

ThreadStatus read_thread_status(pid_t tid) {
  ThreadStatus status;
  char buf[4096];
  if (read_task_file(tid, "status", buf, sizeof buf) == 0) return status;
  status.exists = true;
  if (const char* state = strstr(buf, "\nState:")) {
    state += strlen("\nState:");
    while (*state == ' ' || *state == '\t') state++;
    status.stopped = *state == 'T' || *state == 't' || *state == 'Z' || *state == 'X';
    status.exited = *state == 'Z' || *state == 'X';
    status.waiting = *state == 'S' || *state == 'D';
  }
  if (const char* blocked = strstr(buf, "\nSigBlk:")) {
    status.sig_blocked = strtoull(blocked + strlen("\nSigBlk:"), nullptr, 16);
  }
  if (const char* pending = strstr(buf, "\nSigPnd:")) {
    status.sig_pending = strtoull(pending + strlen("\nSigPnd:"), nullptr, 16);
  }
  return status;
}

ThreadSyscall read_thread_syscall(pid_t tid) {
  ThreadSyscall call;
  char buf[256];
  if (read_task_file(tid, "syscall", buf, sizeof buf) == 0) return call;
  call.readable = true;
  if (strncmp(buf, "running", 7) == 0) return call;
  char* p = buf;
  call.number = strtol(p, &p, 10);
  // Blocked in a call: number, 6 arguments, sp, pc. Otherwise (-1): sp, pc.
  const int fields = call.number >= 0 ? 8 : 2;
  unsigned long long values[8];
  for (int i = 0; i < fields; i++) {
    char* end;
    values[i] = strtoull(p, &end, 16);
    if (end == p) return call;
    p = end;
  }
  call.sp = static_cast<uintptr_t>(values[fields - 2]);
  call.pc = static_cast<uintptr_t>(values[fields - 1]);
  call.in_call = call.number >= 0;
  return call;
}

bool interrupted_by_any_signal(long n) {
  switch (n) {
    case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_pause:
    case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
    case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait:
    case SYS_semop: case SYS_semtimedop: case SYS_msgrcv: case SYS_msgsnd:
    case SYS_io_getevents:
#ifdef SYS_io_pgetevents
    case SYS_io_pgetevents:
#endif
    case SYS_accept: case SYS_accept4: case SYS_connect:
    case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg:
    case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
      return true;
    default:
      return false;
  }
}

}  // namespace ppagent
