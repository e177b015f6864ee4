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

#include "base/agent_scope.h"
#include "base/agent_signals.h"
#include "interpose/next_definition.h"

namespace ppagent {
namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SignalFn = sighandler_t (*)(int, sighandler_t);

// Every interposed member of the signal() family, once: X(name) for each.
#define PPAGENT_SIGNAL_FAMILY(X) \
  X(signal) X(bsd_signal) X(ssignal) X(sysv_signal) X(__sysv_signal) X(sigset)

// Resolved at load time: programs call these from signal handlers and vfork
// children, where dlsym (which allocates and takes the loader's lock) must
// not run.
NextDefinition<SigactionFn> g_sigaction("sigaction");
#define PPAGENT_NEXT_SIGNAL(name) NextDefinition<SignalFn> g_##name(#name);
PPAGENT_SIGNAL_FAMILY(PPAGENT_NEXT_SIGNAL)
#undef PPAGENT_NEXT_SIGNAL

__attribute__((constructor)) void resolve_signal_functions() {
  AgentScope scope;
#define PPAGENT_NEXT_SIGNAL(name) , g_##name
  resolve_at_load(g_sigaction PPAGENT_SIGNAL_FAMILY(PPAGENT_NEXT_SIGNAL));
#undef PPAGENT_NEXT_SIGNAL
}

// What the program would see without the agent.
void default_view(struct sigaction* old) {
  memset(old, 0, sizeof *old);
  old->sa_handler = SIG_DFL;
}

int interposed_sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  SigactionFn real = g_sigaction.get();
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

extern "C" {

PPAGENT_EXPORT int sigaction(int signo, const struct sigaction* __restrict act,
                             struct sigaction* __restrict old) noexcept {
  return ppagent::interposed_sigaction(signo, act, old);
}

PPAGENT_EXPORT int __sigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  return ppagent::interposed_sigaction(signo, act, old);
}

#define PPAGENT_EXPORT_SIGNAL(name)                                           \
  PPAGENT_EXPORT sighandler_t name(int signo, sighandler_t handler) noexcept { \
    return ppagent::interposed_signal(ppagent::g_##name.get(), signo, handler); \
  }
PPAGENT_SIGNAL_FAMILY(PPAGENT_EXPORT_SIGNAL)
#undef PPAGENT_EXPORT_SIGNAL

}  // extern "C"
