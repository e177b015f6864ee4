#include "base/agent_signals.h"

#include <atomic>

#include "base/agent_scope.h"

namespace ppagent {

namespace {

struct Claim {
  std::atomic<void*> handler{nullptr};  // nullptr: not claimed
  std::atomic<SignalTakenFn> on_taken{nullptr};
};

// Plain atomics in static storage: read from any thread, at any time (also
// before the agent's constructor, from another preloaded library's).
Claim g_claims[NSIG];

bool valid(int signo) { return signo > 0 && signo < NSIG; }

}  // namespace

void claim_signal(int signo, void* handler, SignalTakenFn on_taken) {
  if (!valid(signo)) return;
  g_claims[signo].on_taken.store(on_taken);
  g_claims[signo].handler.store(handler);
}

bool signal_claimed(int signo) {
  if (!valid(signo)) return false;
  void* handler = g_claims[signo].handler.load();
  if (handler == nullptr) return false;
  struct sigaction current;
  // The real disposition (the agent's own calls are not interposed).
  {
    AgentScope scope;
    if (sigaction(signo, nullptr, &current) != 0) return false;
  }
  if (installed_handler(current) == handler) return true;
  g_claims[signo].handler.compare_exchange_strong(handler, nullptr);
  return false;
}

bool signal_claim_recorded(int signo) {
  return valid(signo) && g_claims[signo].handler.load(std::memory_order_relaxed) != nullptr;
}

void forget_claim(int signo) {
  if (valid(signo)) g_claims[signo].handler.store(nullptr);
}

void release_signal(int signo) {
  if (!valid(signo)) return;
  if (g_claims[signo].handler.exchange(nullptr) == nullptr) return;
  SignalTakenFn on_taken = g_claims[signo].on_taken.exchange(nullptr);
  if (on_taken != nullptr) {
    AgentScope scope;
    on_taken(signo);
  }
}

}  // namespace ppagent
