// _exit and _Exit end the process at once, without atexit handlers: programs
// call them in forked workers, after daemon()'s fork, on fatal errors and from
// signal handlers. The agent writes the final profiles first, as exit() would
// have, then lets the real function run.
//
// Only in the process the agent's state belongs to: a vfork child (or a
// clone without fork handlers) has another pid and shares or copies the
// parent's state without owning it, so it goes straight to the real _exit.
// A forked child that calls _exit (a worker, or one whose exec failed) is a
// process of its own and writes its own files, as with exit().
//
// The writing runs on an agent thread that the caller waits for at most
// kWriteDeadlineSeconds: _exit may be called from a signal handler that
// interrupted the program inside malloc or a lock, where writing on the
// calling thread could wait forever. Past the deadline the process ends
// anyway (without the profiles still being written).
#include <cerrno>
#include <ctime>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "agent_scope.h"
#include "agent_threads.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace ppagent {
namespace {

constexpr int kWriteDeadlineSeconds = 30;

using ExitFn = void (*)(int);
ExitFn g_real_exit = nullptr;
ExitFn g_real_Exit = nullptr;
using DaemonFn = int (*)(int, int);
DaemonFn g_real_daemon = nullptr;

__thread bool t_in_daemon = false;

// Resolved at load time: dlsym allocates and takes the loader's lock, which
// a vfork child or a signal handler must not do.
__attribute__((constructor)) void resolve_real_exits() {
  AgentScope scope;
  g_real_exit = reinterpret_cast<ExitFn>(dlsym(RTLD_NEXT, "_exit"));
  g_real_Exit = reinterpret_cast<ExitFn>(dlsym(RTLD_NEXT, "_Exit"));
  g_real_daemon = reinterpret_cast<DaemonFn>(dlsym(RTLD_NEXT, "daemon"));
}

void* write_profiles_thread(void*) {
  AgentScope scope;
  write_profiles_at_end();
  return nullptr;
}

void write_profiles_before_exit() {
  if (t_in_agent || !agent_active()) return;
  if (getpid() != agent_process_id()) return;  // a vfork child: not ours to touch
  if (is_agent_thread(current_tid())) return;
  AgentScope scope;
  pthread_t thread;
  if (start_agent_thread(&thread, nullptr, write_profiles_thread, nullptr) != 0) {
    write_profiles_at_end();  // no thread to spare: the caller writes itself
    return;
  }
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += kWriteDeadlineSeconds;
  int rc;
  do rc = pthread_timedjoin_np(thread, nullptr, &deadline);
  while (rc == EINTR);
}

[[noreturn]] void end_process(ExitFn real, int status) {
  if (real != nullptr) real(status);
  for (;;) syscall(SYS_exit_group, status);
}

}  // namespace

bool forking_for_daemon() { return t_in_daemon; }

}  // namespace ppagent

EXPORT void _exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(ppagent::g_real_exit, status);
}

EXPORT void _Exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(ppagent::g_real_Exit ? ppagent::g_real_Exit : ppagent::g_real_exit, status);
}

EXPORT int daemon(int nochdir, int noclose) {
  if (ppagent::g_real_daemon == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  ppagent::t_in_daemon = true;
  int rc = ppagent::g_real_daemon(nochdir, noclose);  // only the child returns (or a failure)
  const int saved_errno = errno;
  ppagent::t_in_daemon = false;
  errno = saved_errno;
  return rc;
}
