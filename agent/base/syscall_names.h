// Names of system calls by number, for the wall profile's syscall label.
#pragma once

#include <string>

namespace ppagent {

// "futex", "read", "epoll_wait", ... for the calls a thread commonly waits
// in; any other number as "syscall_N".
std::string syscall_name(long number);

}  // namespace ppagent
