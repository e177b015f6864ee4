// The definitions the agent interposes on, found once with dlsym(RTLD_NEXT):
// the next definition in the process, which may be another preloaded library.
#pragma once

#include <pthread.h>

namespace ppagent {

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
PthreadCreateFn real_pthread_create();

}  // namespace ppagent
