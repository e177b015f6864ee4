/* lock_binding: calls pthread_mutex_lock, _unlock, malloc and free once
 * (unless given "unbound"), prints "ready" and waits to be killed, so that a
 * test can read where this program's PLT slots for these functions lead. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  if (argc < 2 || strcmp(argv[1], "unbound") != 0) {
    pthread_mutex_lock(&mutex);
    pthread_mutex_unlock(&mutex);
    void* volatile block = malloc(64);
    free(block);
  }
  printf("ready\n");
  fflush(stdout);
  if (argc > 100) {  /* never: only so that the unbound run has the slots too */
    void* volatile block = malloc(1);
    free(block);
  }
  for (;;) pause();
}
