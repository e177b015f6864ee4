/* For the workloads whose threads loop until told to stop (dl_storm,
 * dl_unwind): one thread per function, SECONDS of wall time, then the stop
 * flag the loops poll, and every thread joined. */
#ifndef PPAGENT_INTEGRATION_TIMED_THREADS_H
#define PPAGENT_INTEGRATION_TIMED_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static inline void run_threads_for(double seconds, void *(*const fns[])(void *), int n,
                                   atomic_int *stop) {
  pthread_t t[n];
  for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, fns[i], NULL);
  /* Wall time, to the end even if a signal interrupts the sleep. */
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  atomic_store(stop, 1);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

#endif
