// Interposed sigaction and the signal() family (exported through exports.map).
// The agent's own calls (inside AgentScope) and calls for signals the agent
// has not claimed go straight to the next definition. For a claimed signal:
// - a handler or SIG_IGN from the program: the agent steps aside first (stops
//   what used the signal, says so), then the program's disposition is set;
// - SIG_DFL or a query: the agent's handler stays (without the agent nothing
//   would arrive there but the default action), and the program is shown the
//   default disposition, as it would see without the agent.
#include <csignal>
#include <cstring>
#include <dlfcn.h>

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "interpose/next_definition.h"

namespace ppagent {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SignalFn = sighandler_t (*)(int, sighandler_t);

SigactionFn real_sigaction() {
  static SigactionFn real = next_definition<SigactionFn>("sigaction");
  return real;
}

// What the program would see without the agent.
void default_view(struct sigaction* old) {
  memset(old, 0, sizeof *old);
  old->sa_handler = SIG_DFL;
}

int interposed_sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  SigactionFn real = real_sigaction();
  if (t_in_agent || !signal_claimed(signo)) return real(signo, act, old);
  const bool takes_over = act != nullptr && !(!(act->sa_flags & SA_SIGINFO) &&
                                              act->sa_handler == SIG_DFL);
  if (!takes_over) {
    if (old != nullptr) default_view(old);
    return 0;
  }
  release_signal(signo);
  int rc = real(signo, act, nullptr);
  if (rc == 0 && old != nullptr) default_view(old);
  return rc;
}

// signal(), bsd_signal(), sysv_signal(), sigset(): `next` is the real one.
sighandler_t interposed_signal(SignalFn next, int signo, sighandler_t handler) {
  if (t_in_agent || next == nullptr || !signal_claimed(signo)) {
    if (next == nullptr) return SIG_ERR;
    return next(signo, handler);
  }
  if (handler == SIG_DFL) return SIG_DFL;
  if (handler != SIG_HOLD) release_signal(signo);
  sighandler_t previous = next(signo, handler);
  return previous == SIG_ERR ? SIG_ERR : SIG_DFL;
}

}  // namespace
}  // namespace ppagent

using ppagent::interposed_signal;
using ppagent::next_definition;
using ppagent::SignalFn;

extern "C" {

PPAGENT_EXPORT int sigaction(int signo, const struct sigaction* __restrict act,
                             struct sigaction* __restrict old) noexcept {
  return ppagent::interposed_sigaction(signo, act, old);
}

PPAGENT_EXPORT int __sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  return ppagent::interposed_sigaction(signo, act, old);
}

PPAGENT_EXPORT sighandler_t signal(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("signal");
  return interposed_signal(next, signo, handler);
}

PPAGENT_EXPORT sighandler_t bsd_signal(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("bsd_signal");
  return interposed_signal(next, signo, handler);
}

PPAGENT_EXPORT sighandler_t ssignal(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("ssignal");
  return interposed_signal(next, signo, handler);
}

PPAGENT_EXPORT sighandler_t sysv_signal(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("sysv_signal");
  return interposed_signal(next, signo, handler);
}

PPAGENT_EXPORT sighandler_t __sysv_signal(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("__sysv_signal");
  return interposed_signal(next, signo, handler);
}

PPAGENT_EXPORT sighandler_t sigset(int signo, sighandler_t handler) noexcept {
  static SignalFn next = next_definition<SignalFn>("sigset");
  return interposed_signal(next, signo, handler);
}

}  // extern "C"
