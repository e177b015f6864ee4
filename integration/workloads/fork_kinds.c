/* fork_kinds: every profile kind in a parent and its forked child, each with
 * work of its own. The parent allocates (parent_alloc, kept live), contends
 * on a mutex (parent_lock_worker) and burns CPU (parent_work); then it forks.
 * The child frees half of the blocks it inherited, then does the same under
 * child_* names and exits; the parent waits and works a little more.
 * Prints "child <pid>". A child's profiles must show none of parent_*, the
 * parent's none of child_*. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "burnlib.h"

#define BLOCKS 64

static volatile unsigned long sink;
static void* volatile parent_blocks[BLOCKS]; /* volatile: the stores (and so the mallocs) must stay */
static void* volatile child_blocks[BLOCKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) static void burn(double seconds) {
  burn_thread_cpu((uint64_t)(seconds * 1e9), &sink);
}

/* Each worker holds the lock for 5 ms five times; the other one waits. */
__attribute__((noinline)) static void hold_lock_a_while(void) {
  for (int i = 0; i < 5; i++) {
    pthread_mutex_lock(&lock);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_mutex_unlock(&lock);
    sched_yield();
  }
  sink++;
}

/* The increments after the calls keep them from becoming tail calls. */
__attribute__((noinline, noclone)) void* parent_lock_worker(void* arg) { hold_lock_a_while(); sink++; return arg; }
__attribute__((noinline, noclone)) void* child_lock_worker(void* arg) { hold_lock_a_while(); sink++; return arg; }

static void contend(void* (*worker)(void*)) {
  pthread_t a, b;
  pthread_create(&a, NULL, worker, NULL);
  pthread_create(&b, NULL, worker, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
}

__attribute__((noinline, noclone)) void parent_alloc(void) {
  for (int i = 0; i < BLOCKS; i++) parent_blocks[i] = malloc(4096 + i);
  sink++;
}
__attribute__((noinline, noclone)) void child_alloc(void) {
  for (int i = 0; i < BLOCKS; i++) child_blocks[i] = malloc(8192 + i);
  sink++;
}
__attribute__((noinline, noclone)) void parent_work(double seconds) { burn(seconds); sink++; }
__attribute__((noinline, noclone)) void child_work(double seconds) { burn(seconds); sink++; }

int main(void) {
  parent_alloc();
  contend(parent_lock_worker);
  parent_work(0.2);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    for (int i = 0; i < BLOCKS; i += 2) free(parent_blocks[i]);  /* inherited: not the child's */
    child_alloc();
    contend(child_lock_worker);
    child_work(0.3);
    exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  parent_work(0.1);
  printf("child %d\n", (int)child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
