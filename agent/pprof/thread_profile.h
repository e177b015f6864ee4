// The threads profile (served as "goroutine": the stacks of all threads now)
// and the threadcreate profile (where each live thread was created), in the
// shape Go gives its goroutine and threadcreate profiles.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ppagent {

class Symbolizer;
class ModuleTables;

// How long a threads capture waits for the threads to answer.
constexpr int kThreadStacksDeadlineMs = 250;

struct ThreadSample {
  pid_t tid = 0;
  std::string name;               // /proc/self/task/<tid>/comm
  std::vector<uintptr_t> stack;   // innermost first; return addresses after the first
  bool answered = true;           // false: no stack (the thread did not answer in time)
};

// One sample of the profile: the threads on one (stack, name).
struct ThreadGroup {
  std::vector<uintptr_t> stack;
  std::string thread_name;
  bool answered = true;
  std::vector<pid_t> tids;  // each becomes a thread_id label
  int64_t count = 0;        // threads on it (for a delta, the difference)
};

enum class ThreadProfileKind { kThreads, kThreadCreate };

std::vector<ThreadGroup> group_threads(const std::vector<ThreadSample>& threads);

// Serialized (uncompressed) Profile: sample type goroutine/count or
// threadcreate/count, symbolized in this process. For kThreads the first pc
// of a stack is where the thread was interrupted and the rest are return
// addresses; for kThreadCreate every pc is a return address. Threads that did
// not answer get one pseudo frame naming `deadline_ms`.
std::string build_thread_profile(const std::vector<ThreadGroup>& groups, ThreadProfileKind kind,
                                 int64_t time_unix_ns, Symbolizer* symbolizer,
                                 int deadline_ms = kThreadStacksDeadlineMs);

// thread_stacks.cc: every thread of the process but the agent's own, each
// unwinding itself on a signal; threads that do not answer within
// `deadline_ms` are returned with answered = false.
std::vector<ThreadSample> capture_thread_stacks(int deadline_ms);

// The tables that threads unwind with (agent.cc, once at start); until then
// every thread is reported as not answered.
void init_thread_stacks(ModuleTables* tables);

// Called by the CPU signal's handler (cpu_sampler.cc) for every signal that is not
// a CPU timer's. Async-signal-safe. Returns false if the signal is not a
// request from capture_thread_stacks (then it is not the agent's either).
bool answer_thread_stack_request(const siginfo_t* info, void* context, ModuleTables* tables);

// thread_creation.cc: the live threads created through pthread_create since
// the agent started, each with the stack that created it.
std::vector<ThreadSample> live_thread_creation_stacks();

// interpose_pthread.cc, on a thread the program created, inside AgentScope:
// as it starts, with the stack of pthread_create's caller (innermost first),
// and as it ends.
void note_thread_created(std::vector<uintptr_t> creation_stack);
void note_thread_ended();

// In a forked child (agent.cc): only the forking thread exists there, and a
// lock another thread held at the fork must be free again. The child's
// threadcreate profile starts empty.
void thread_stacks_child_after_fork();

// The program took the CPU signal for itself (cpu_sampler.cc): waits for a capture
// in progress to end; later captures signal no thread (and say nothing more,
// the step-aside was reported once).
void thread_stacks_cpu_signal_given_up();
void thread_creation_child_after_fork();

}  // namespace ppagent
