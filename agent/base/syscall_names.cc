#include "base/syscall_names.h"

#include <sys/syscall.h>

namespace ppagent {

namespace {

struct SyscallName {
  long number;
  const char* name;
};

// The calls a thread waits in or spends long in, by this architecture's
// numbers (the SYS_ macros); a table of every call would be mostly unused.
#define PPAGENT_SYSCALL(name) {SYS_##name, #name}
constexpr SyscallName kNames[] = {
    PPAGENT_SYSCALL(read), PPAGENT_SYSCALL(write), PPAGENT_SYSCALL(open),
    PPAGENT_SYSCALL(openat), PPAGENT_SYSCALL(close), PPAGENT_SYSCALL(pread64),
    PPAGENT_SYSCALL(pwrite64), PPAGENT_SYSCALL(readv), PPAGENT_SYSCALL(writev),
    PPAGENT_SYSCALL(preadv), PPAGENT_SYSCALL(pwritev), PPAGENT_SYSCALL(preadv2),
    PPAGENT_SYSCALL(pwritev2), PPAGENT_SYSCALL(sendfile), PPAGENT_SYSCALL(splice),
    PPAGENT_SYSCALL(fsync), PPAGENT_SYSCALL(fdatasync), PPAGENT_SYSCALL(sync_file_range),
    PPAGENT_SYSCALL(sync), PPAGENT_SYSCALL(syncfs), PPAGENT_SYSCALL(fallocate),
    PPAGENT_SYSCALL(ftruncate), PPAGENT_SYSCALL(ioctl), PPAGENT_SYSCALL(flock),
    PPAGENT_SYSCALL(fcntl), PPAGENT_SYSCALL(futex), PPAGENT_SYSCALL(nanosleep),
    PPAGENT_SYSCALL(clock_nanosleep), PPAGENT_SYSCALL(pause), PPAGENT_SYSCALL(poll),
    PPAGENT_SYSCALL(ppoll), PPAGENT_SYSCALL(select), PPAGENT_SYSCALL(pselect6),
    PPAGENT_SYSCALL(epoll_wait), PPAGENT_SYSCALL(epoll_pwait),
#ifdef SYS_epoll_pwait2
    PPAGENT_SYSCALL(epoll_pwait2),
#endif
    PPAGENT_SYSCALL(accept), PPAGENT_SYSCALL(accept4), PPAGENT_SYSCALL(connect),
    PPAGENT_SYSCALL(recvfrom), PPAGENT_SYSCALL(recvmsg), PPAGENT_SYSCALL(recvmmsg),
    PPAGENT_SYSCALL(sendto), PPAGENT_SYSCALL(sendmsg), PPAGENT_SYSCALL(sendmmsg),
    PPAGENT_SYSCALL(shutdown), PPAGENT_SYSCALL(wait4), PPAGENT_SYSCALL(waitid),
    PPAGENT_SYSCALL(rt_sigsuspend), PPAGENT_SYSCALL(rt_sigtimedwait), PPAGENT_SYSCALL(semop),
    PPAGENT_SYSCALL(semtimedop), PPAGENT_SYSCALL(msgrcv), PPAGENT_SYSCALL(msgsnd),
    PPAGENT_SYSCALL(io_getevents), PPAGENT_SYSCALL(io_submit),
#ifdef SYS_io_uring_enter
    PPAGENT_SYSCALL(io_uring_enter),
#endif
    PPAGENT_SYSCALL(mmap), PPAGENT_SYSCALL(munmap), PPAGENT_SYSCALL(mprotect),
    PPAGENT_SYSCALL(madvise), PPAGENT_SYSCALL(brk), PPAGENT_SYSCALL(msync),
    PPAGENT_SYSCALL(sched_yield), PPAGENT_SYSCALL(getrandom), PPAGENT_SYSCALL(clone),
    PPAGENT_SYSCALL(clone3), PPAGENT_SYSCALL(fork), PPAGENT_SYSCALL(vfork),
    PPAGENT_SYSCALL(execve), PPAGENT_SYSCALL(exit), PPAGENT_SYSCALL(exit_group),
    PPAGENT_SYSCALL(stat), PPAGENT_SYSCALL(fstat), PPAGENT_SYSCALL(lstat),
    PPAGENT_SYSCALL(newfstatat), PPAGENT_SYSCALL(statx), PPAGENT_SYSCALL(getdents64),
    PPAGENT_SYSCALL(unlink), PPAGENT_SYSCALL(unlinkat), PPAGENT_SYSCALL(rename),
    PPAGENT_SYSCALL(renameat2), PPAGENT_SYSCALL(mkdir), PPAGENT_SYSCALL(rmdir),
};
#undef PPAGENT_SYSCALL

}  // namespace

std::string syscall_name(long number) {
  for (const SyscallName& entry : kNames)
    if (entry.number == number) return entry.name;
  return "syscall_" + std::to_string(number);
}

}  // namespace ppagent
