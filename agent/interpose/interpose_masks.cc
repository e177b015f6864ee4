// Interposed pthread_sigmask/sigprocmask, sigwait/sigwaitinfo/sigtimedwait and
// signalfd (exported through exports.map): the program never blocks, waits
// for or reads the agent's CPU signal, and sees the masks it set
// (signal_masks.h says why). The agent's own calls (inside AgentScope), calls
// made before the agent chose its signal, and every call once the program has
// taken the signal for itself go straight to the next definition.
#include <csignal>
#include <sys/signalfd.h>

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "base/signal_masks.h"
#include "interpose/next_definition.h"
#include "record/cpu_sampler.h"

namespace ppagent {
namespace {

using MaskFn = int (*)(int, const sigset_t*, sigset_t*);
using SigwaitFn = int (*)(const sigset_t*, int*);
using SigwaitinfoFn = int (*)(const sigset_t*, siginfo_t*);
using SigtimedwaitFn = int (*)(const sigset_t*, siginfo_t*, const struct timespec*);
using SignalfdFn = int (*)(int, const sigset_t*, int);

// Resolved at load time: dlsym allocates and may take the loader's lock, and
// programs call these from signal handlers and vfork children, where neither
// may happen.
NextDefinition<MaskFn> g_sigprocmask("sigprocmask"), g_pthread_sigmask("pthread_sigmask");
NextDefinition<SigwaitFn> g_sigwait("sigwait");
NextDefinition<SigwaitinfoFn> g_sigwaitinfo("sigwaitinfo");
NextDefinition<SigtimedwaitFn> g_sigtimedwait("sigtimedwait");
NextDefinition<SignalfdFn> g_signalfd("signalfd");

__attribute__((constructor)) void resolve_mask_functions() {
  AgentScope scope;
  resolve_at_load(g_sigprocmask, g_pthread_sigmask, g_sigwait, g_sigwaitinfo, g_sigtimedwait,
                  g_signalfd);
}

// The CPU signal while the agent holds it and this call is the program's;
// else 0.
int managed_signal() {
  if (t_in_agent) return 0;
  const int signo = cpu_signal();
  if (signo == 0 || !signal_claim_recorded(signo)) return 0;
  return signo;
}

// `set` without the CPU signal in *copy, unless the set names the signal on
// purpose: then the agent hands it over first and the set is used as it is.
// Returns the set to pass on.
const sigset_t* without_cpu_signal(int signo, const sigset_t* set, sigset_t* copy) {
  if (set == nullptr || sigismember(set, signo) != 1) return set;
  if (names_signal_specifically(*set, signo)) {
    release_signal(signo);
    return set;
  }
  *copy = *set;
  sigdelset(copy, signo);
  return copy;
}

int interposed_mask(MaskFn real, int how, const sigset_t* set, sigset_t* old) {
  if (real == nullptr) return EINVAL;  // pthread_sigmask's convention; never seen
  const int signo = managed_signal();
  if (signo == 0) return real(how, set, old);
  const bool blocked_before = t_program_blocks_cpu_signal;
  const bool in_set = set != nullptr && sigismember(set, signo) == 1;
  sigset_t copy;
  const sigset_t* pass = set;
  if (how != SIG_UNBLOCK) pass = without_cpu_signal(signo, set, &copy);
  const int rc = real(how, pass, old);
  if (rc != 0) return rc;
  if (old != nullptr && blocked_before) sigaddset(old, signo);
  if (set != nullptr) {
    if (how == SIG_BLOCK) t_program_blocks_cpu_signal = blocked_before || in_set;
    else if (how == SIG_UNBLOCK) t_program_blocks_cpu_signal = blocked_before && !in_set;
    else if (how == SIG_SETMASK) t_program_blocks_cpu_signal = in_set;
  }
  return rc;
}

}  // namespace
}  // namespace ppagent

using namespace ppagent;

extern "C" {

PPAGENT_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  MaskFn real = g_sigprocmask.get();
  return interposed_mask(real, how, set, old);
}

// pthread_sigmask@GLIBC_2.2.5 is an alias of the current implementation.
PPAGENT_EXPORT PPAGENT_VERSION("pthread_sigmask@@GLIBC_2.32") int
ppagent_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  MaskFn real = g_pthread_sigmask.get();
  return interposed_mask(real, how, set, old);
}

PPAGENT_EXPORT PPAGENT_VERSION("pthread_sigmask@GLIBC_2.2.5") int
ppagent_pthread_sigmask_2_2_5(int how, const sigset_t* set, sigset_t* old) {
  MaskFn real = g_pthread_sigmask.get();
  return interposed_mask(real, how, set, old);
}

PPAGENT_EXPORT int sigwait(const sigset_t* __restrict set, int* __restrict sig) {
  SigwaitFn real = g_sigwait.get();
  sigset_t copy;
  if (const int signo = managed_signal()) set = without_cpu_signal(signo, set, &copy);
  return real(set, sig);
}

PPAGENT_EXPORT int sigwaitinfo(const sigset_t* __restrict set, siginfo_t* __restrict info) {
  SigwaitinfoFn real = g_sigwaitinfo.get();
  sigset_t copy;
  if (const int signo = managed_signal()) set = without_cpu_signal(signo, set, &copy);
  return real(set, info);
}

PPAGENT_EXPORT int sigtimedwait(const sigset_t* __restrict set, siginfo_t* __restrict info,
                                const struct timespec* __restrict timeout) {
  SigtimedwaitFn real = g_sigtimedwait.get();
  sigset_t copy;
  if (const int signo = managed_signal()) set = without_cpu_signal(signo, set, &copy);
  return real(set, info, timeout);
}

PPAGENT_EXPORT int signalfd(int fd, const sigset_t* mask, int flags) noexcept {
  SignalfdFn real = g_signalfd.get();
  sigset_t copy;
  if (const int signo = managed_signal()) mask = without_cpu_signal(signo, mask, &copy);
  return real(fd, mask, flags);
}

}  // extern "C"
