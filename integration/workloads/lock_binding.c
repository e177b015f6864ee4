/* lock_binding: calls pthread_mutex_lock and _unlock once (unless given
 * "unbound"), prints "ready" and waits to be killed, so that a test can read
 * where this program's PLT slots for the two functions lead. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char** argv) {
  if (argc < 2 || strcmp(argv[1], "unbound") != 0) {
    pthread_mutex_lock(&mutex);
    pthread_mutex_unlock(&mutex);
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
