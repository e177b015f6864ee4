#include "base/signal_masks.h"

#include <pthread.h>

namespace ppagent {

__thread bool t_program_blocks_cpu_signal __attribute__((tls_model("initial-exec"))) = false;

bool names_signal_specifically(const sigset_t& set, int signo) {
  for (int other = SIGRTMIN; other <= SIGRTMAX; other++)
    if (other != signo && sigismember(&set, other) != 1) return true;
  return false;
}

void keep_cpu_signal_unblocked(int signo) {
  sigset_t mask;
  if (signo == 0 || pthread_sigmask(SIG_BLOCK, nullptr, &mask) != 0 ||
      sigismember(&mask, signo) != 1)
    return;
  sigset_t just_this;
  sigemptyset(&just_this);
  sigaddset(&just_this, signo);
  if (pthread_sigmask(SIG_UNBLOCK, &just_this, nullptr) == 0) t_program_blocks_cpu_signal = true;
}

}  // namespace ppagent
