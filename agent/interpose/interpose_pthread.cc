// Interposed pthread symbols (exported through exports.map). Threads the
// program creates are registered for CPU sampling as they start, and
// unregistered as they end, without the program's help.
#include "interpose/interpose_pthread.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <dlfcn.h>
#include <new>
#include <pthread.h>
#include <vector>

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "base/agent_state.h"
#include "base/agent_threads.h"
#include "base/agent_wakeup.h"
#include "base/signal_masks.h"
#include "interpose/next_definition.h"
#include "record/cpu_sampler.h"
#include "record/wall_sampler.h"
#include "record/thread_creation.h"
#include "unwind/caller_stack.h"
#include "unwind/stack_walker.h"

namespace ppagent {

namespace {

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

NextDefinition<PthreadCreateFn> g_pthread_create("pthread_create");

__attribute__((constructor)) void resolve_pthread_create() {
  AgentScope scope;
  resolve_at_load(g_pthread_create);
}

struct StartRoutine {
  void* (*function)(void*);
  void* argument;
  std::vector<uintptr_t> creation_stack;  // pthread_create's caller first
  bool blocks_cpu_signal;                 // the creator's mask, as the program sees it
};

pthread_key_t g_exit_key;
pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;

// The program's threads still running: the main thread and those started
// through the wrapper below. The agent's own threads are not counted.
std::atomic<int> g_program_threads{1};

// Runs at thread exit however the thread ends (return, pthread_exit, cancel),
// and for the main thread when it ends with pthread_exit.
void on_thread_exit(void*) {
  AgentScope scope;
  CpuSampler::thread_exiting();
  WallSampler::thread_ending();
  note_thread_ended();
  // glibc ends the process when its last thread ends; the agent's threads
  // must not keep it alive (agent.cc ends it instead).
  if (g_program_threads.fetch_sub(1) == 1) wakeup_nudge();
}

void make_exit_key() { pthread_key_create(&g_exit_key, on_thread_exit); }

void* start_registered_thread(void* raw) {
  void* (*function)(void*);
  void* argument;
  bool routine_blocks_cpu_signal;
  {
    // The agent's work on the new thread: not profiled, not re-entering.
    AgentScope scope;
    auto* routine = static_cast<StartRoutine*>(raw);
    function = routine->function;
    argument = routine->argument;
    routine_blocks_cpu_signal = routine->blocks_cpu_signal;
    note_thread_created(std::move(routine->creation_stack));
    delete routine;
    pthread_once(&g_exit_key_once, make_exit_key);
    pthread_setspecific(g_exit_key, reinterpret_cast<void*>(1));
    note_current_thread_stack();
    // A thread inherits its creator's mask: the program's view of it too.
    t_program_blocks_cpu_signal = routine_blocks_cpu_signal;
    if (signal_claim_recorded(cpu_signal())) keep_cpu_signal_unblocked(cpu_signal());
    CpuSampler::thread_started();
    WallSampler::thread_started();
  }
  return function(argument);
}

struct AgentRoutine {
  void* (*function)(void*);
  void* argument;
};

void* run_agent_routine(void* raw) {
  AgentScope scope;
  AgentRoutine routine = *static_cast<AgentRoutine*>(raw);
  delete static_cast<AgentRoutine*>(raw);
  note_agent_thread();
  void* result = routine.function(routine.argument);
  forget_agent_thread();
  return result;
}

}  // namespace

void watch_main_thread_exit() {
  AgentScope scope;
  pthread_once(&g_exit_key_once, make_exit_key);
  pthread_setspecific(g_exit_key, reinterpret_cast<void*>(1));
}

int program_threads_running() { return g_program_threads.load(); }

void forget_other_program_threads() { g_program_threads.store(1); }

int start_agent_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*),
                       void* argument) {
  AgentScope scope;
  AgentRoutine* wrapped = new (std::nothrow) AgentRoutine{routine, argument};
  if (wrapped == nullptr) return EAGAIN;
  // The new thread inherits this mask: no program signal is ever handled on it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = g_pthread_create.get()(thread, attr, run_agent_routine, wrapped);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) delete wrapped;
  return rc;
}

}  // namespace ppagent

namespace ppagent {
namespace {
int create_registered_thread(pthread_t* thread, const pthread_attr_t* attr,
                             void* (*function)(void*), void* argument) {
  PthreadCreateFn real = g_pthread_create.get();
  if (!agent_active()) return real(thread, attr, function, argument);
  // Created by the agent's own code (a library it uses starting workers).
  if (t_in_agent) return start_agent_thread(thread, attr, function, argument);
  StartRoutine* routine;
  {
    AgentScope scope;  // freed inside a scope too: never a sampled block
    routine = new (std::nothrow) StartRoutine{function, argument, {}, t_program_blocks_cpu_signal};
    if (routine != nullptr) {
      // For the threadcreate profile: who created the thread.
      uintptr_t pcs[kMaxStackDepth];
      int depth = capture_caller_stack(agent_state().module_tables, pcs, kMaxStackDepth);
      routine->creation_stack.assign(pcs, pcs + depth);
    }
  }
  if (routine == nullptr) return real(thread, attr, function, argument);
  g_program_threads.fetch_add(1);  // before it exists: its end counts it down
  int rc = real(thread, attr, start_registered_thread, routine);
  if (rc != 0) {
    g_program_threads.fetch_sub(1);
    AgentScope scope;
    delete routine;
  }
  return rc;
}
}  // namespace
}  // namespace ppagent

// pthread_create@GLIBC_2.2.5 is an alias of the current implementation.
PPAGENT_EXPORT PPAGENT_VERSION("pthread_create@@GLIBC_2.34") int
ppagent_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return ppagent::create_registered_thread(t, a, f, arg);
}

PPAGENT_EXPORT PPAGENT_VERSION("pthread_create@GLIBC_2.2.5") int
ppagent_pthread_create_2_2_5(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return ppagent::create_registered_thread(t, a, f, arg);
}
