// How a process ends, and the agent's last write before it does.
//
// The exit profiles are written while the program's libraries are still
// alive: when main returns (main is wrapped through __libc_start_main) and
// when exit() or quick_exit() is called, before the program's atexit
// handlers and library destructors run. Those may tear down what the
// writer's own calls need (a program's OpenSSL cleaned up by its atexit
// handler, then used again by a library loaded late, crashed node and curl).
// The agent's own atexit handler (agent.cc) stays only for exits that pass
// by both, such as glibc's internal exit after the last thread ends.
//
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
// From exit paths the writing runs on an agent thread that the caller waits
// for at most kWriteDeadlineSeconds: exit and _exit may be called from a
// signal handler that interrupted the program inside malloc or a lock, where
// writing on the calling thread could wait forever. Past the deadline the
// process ends anyway (without the profiles still being written).
#include "interpose/interpose_exit.h"

#include <cerrno>
#include <ctime>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/agent_scope.h"
#include "base/agent_state.h"
#include "base/agent_threads.h"
#include "base/log.h"
#include "interpose/interpose_pthread.h"
#include "interpose/next_definition.h"
#include "record/cpu_sampler.h"
#include "unwind/hidden_frames.h"

namespace ppagent {
namespace {

constexpr int kWriteDeadlineSeconds = 30;

using ExitFn = void (*)(int);
NextDefinition<ExitFn> g_real_exit("_exit");
NextDefinition<ExitFn> g_real_Exit("_Exit");
NextDefinition<ExitFn> g_real_libc_exit("exit");
NextDefinition<ExitFn> g_real_quick_exit("quick_exit", "GLIBC_2.24");
// The old one, which skips thread_local destructors.
NextDefinition<ExitFn> g_real_quick_exit_2_10("quick_exit", "GLIBC_2.10");
using DaemonFn = int (*)(int, int);
NextDefinition<DaemonFn> g_real_daemon("daemon");

__thread bool t_in_daemon = false;

void (*g_write_profiles)() = nullptr;

// Resolved at load time: dlsym allocates and takes the loader's lock, which
// a vfork child or a signal handler must not do.
__attribute__((constructor)) void resolve_real_exits() {
  AgentScope scope;
  resolve_at_load(g_real_exit, g_real_Exit, g_real_daemon, g_real_libc_exit, g_real_quick_exit,
                  g_real_quick_exit_2_10);
}

// `preferred`, or `fallback` where the C library has no such function.
ExitFn either(ExitFn preferred, ExitFn fallback) {
  return preferred != nullptr ? preferred : fallback;
}

void* write_profiles_thread(void*) {
  AgentScope scope;
  g_write_profiles();
  return nullptr;
}

void write_profiles_before_exit() {
  if (t_in_agent || !agent_active()) return;
  if (getpid() != agent_process_id()) return;  // a vfork child: not ours to touch
  if (is_agent_thread(current_tid())) return;
  AgentScope scope;
  pthread_t thread;
  if (start_agent_thread(&thread, nullptr, write_profiles_thread, nullptr) != 0) {
    g_write_profiles();  // no thread to spare: the caller writes itself
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

// ---- main ------------------------------------------------------------------
// The program's _start hands main to __libc_start_main; the agent hands over
// main_then_write instead, which returns main's status after writing. The
// stack walker hides these frames (hidden_frames.h): they are not the program's.
using MainFn = int (*)(int, char**, char**);
using LibcStartMainFn = int (*)(MainFn, int, char**, void (*)(), void (*)(), void (*)(), void*);

MainFn g_program_main = nullptr;

PPAGENT_HIDDEN_FRAME int main_then_write(int argc, char** argv, char** envp) {
  const int status = g_program_main(argc, argv, envp);
  // The main thread is between main and exit: it holds no lock of the
  // program's, so it writes itself. The scope is entered here, not only in
  // the writer: the first call into the writer's code can take a page fault,
  // and a CPU timer signal due during it is delivered on that first
  // instruction, before the writer's own scope.
  if (!t_in_agent && agent_active() && getpid() == agent_process_id()) {
    AgentScope scope;
    g_write_profiles();
  }
  return status;
}

PPAGENT_HIDDEN_FRAME int start_main(const char* version, MainFn main, int argc, char** argv, void (*init)(),
               void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  LibcStartMainFn real;
  {
    AgentScope scope;
    real = next_definition<LibcStartMainFn>("__libc_start_main", version);
    if (real == nullptr)
      real = next_definition<LibcStartMainFn>("__libc_start_main");
  }
  if (real == nullptr) {
    log_line("cannot find __libc_start_main; the program cannot start");
    syscall(SYS_exit_group, 127);
  }
  g_program_main = main;
  CpuSampler::program_started();  // every library's constructors have run
  return real(main_then_write, argc, argv, init, fini, rtld_fini, stack_end);
}

}  // namespace

void set_exit_writer(void (*write_profiles)()) { g_write_profiles = write_profiles; }

bool forking_for_daemon() { return t_in_daemon; }

}  // namespace ppagent

// Two versions, as glibc has them: a program linked against glibc 2.34 or
// later asks for the new one, older programs for the old one.
PPAGENT_EXPORT PPAGENT_VERSION("__libc_start_main@@GLIBC_2.34") PPAGENT_HIDDEN_FRAME int
ppagent_libc_start_main(ppagent::MainFn main, int argc, char** argv, void (*init)(),
                        void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  return ppagent::start_main("GLIBC_2.34", main, argc, argv, init, fini, rtld_fini, stack_end);
}

PPAGENT_EXPORT PPAGENT_VERSION("__libc_start_main@GLIBC_2.2.5") PPAGENT_HIDDEN_FRAME int
ppagent_libc_start_main_2_2_5(ppagent::MainFn main, int argc, char** argv, void (*init)(),
                              void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  return ppagent::start_main("GLIBC_2.2.5", main, argc, argv, init, fini, rtld_fini, stack_end);
}

PPAGENT_EXPORT void exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::ExitFn real;
  {
    ppagent::AgentScope scope;  // a lookup (before the agent's constructor ran) is the agent's
    real = ppagent::g_real_libc_exit.get();
  }
  ppagent::end_process(real, status);
}

PPAGENT_EXPORT PPAGENT_VERSION("quick_exit@@GLIBC_2.24") void
ppagent_quick_exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(ppagent::either(ppagent::g_real_quick_exit.get(), ppagent::g_real_exit.get()),
                       status);
}

PPAGENT_EXPORT PPAGENT_VERSION("quick_exit@GLIBC_2.10") void
ppagent_quick_exit_2_10(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(
      ppagent::either(ppagent::g_real_quick_exit_2_10.get(), ppagent::g_real_exit.get()), status);
}

PPAGENT_EXPORT void _exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(ppagent::g_real_exit.get(), status);
}

PPAGENT_EXPORT void _Exit(int status) {
  ppagent::write_profiles_before_exit();
  ppagent::end_process(ppagent::either(ppagent::g_real_Exit.get(), ppagent::g_real_exit.get()), status);
}

PPAGENT_EXPORT int daemon(int nochdir, int noclose) {
  ppagent::DaemonFn real = ppagent::g_real_daemon.get();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  ppagent::t_in_daemon = true;
  int rc = real(nochdir, noclose);  // only the child returns (or a failure)
  const int saved_errno = errno;
  ppagent::t_in_daemon = false;
  errno = saved_errno;
  return rc;
}
