// rebind_plt_calls on this program's own PLT calls into libc. Built twice:
// with lazy binding (the GOT stays writable, unbound slots lead to the PLT
// stubs) and with -z now (the GOT is read-only after relocation).
#include "interpose/plt_rebinding.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

using ppagent::rebind_plt_calls;

namespace {

extern "C" pid_t fake_getppid() { return 4242; }
extern "C" pid_t fake_getpgrp() { return 4343; }
extern "C" pid_t unrelated_function() { return 1; }

void* libc_function(const char* name) { return dlsym(RTLD_DEFAULT, name); }

TEST(PltRebinding, PointsABoundSlotAtTheTargetAndBack) {
  const pid_t parent = getppid();  // binds the slot if binding is lazy
  ASSERT_NE(parent, 4242);
  void* real = libc_function("getppid");
  ASSERT_NE(real, nullptr);

  EXPECT_EQ(rebind_plt_calls("getppid", real, reinterpret_cast<void*>(fake_getppid)), 1);
  EXPECT_EQ(getppid(), 4242);

  EXPECT_EQ(rebind_plt_calls("getppid", reinterpret_cast<void*>(fake_getppid), real), 1);
  EXPECT_EQ(getppid(), parent);
}

TEST(PltRebinding, RewritesASlotNotYetBound) {
  // getpgrp is called nowhere before this point: with lazy binding its slot
  // still leads to this program's PLT stub, with -z now it leads to libc.
  void* real = libc_function("getpgrp");
  ASSERT_NE(real, nullptr);
  EXPECT_EQ(rebind_plt_calls("getpgrp", real, reinterpret_cast<void*>(fake_getpgrp)), 1);
  EXPECT_EQ(getpgrp(), 4343);
  EXPECT_EQ(rebind_plt_calls("getpgrp", reinterpret_cast<void*>(fake_getpgrp), real), 1);
  EXPECT_EQ(getpgrp(), getpgid(0));
}

TEST(PltRebinding, LeavesASlotBoundElsewhere) {
  const pid_t parent = getppid();
  EXPECT_EQ(rebind_plt_calls("getppid", reinterpret_cast<void*>(unrelated_function),
                             reinterpret_cast<void*>(fake_getppid)),
            0);
  EXPECT_EQ(getppid(), parent);
}

TEST(PltRebinding, ABatchRewritesEachSymbolsSlot) {
  const pid_t parent = getppid();
  const pid_t group = getpgid(0);
  const uid_t uid = getuid();  // binds its slot if binding is lazy
  void* real_ppid = libc_function("getppid");
  void* real_pgrp = libc_function("getpgrp");
  ASSERT_NE(real_ppid, nullptr);
  ASSERT_NE(real_pgrp, nullptr);
  // The entry with a null target and the unknown symbol change nothing.
  const ppagent::PltRebinding there[] = {
      {"getppid", real_ppid, reinterpret_cast<void*>(fake_getppid)},
      {"getuid", libc_function("getuid"), nullptr},
      {"no_such_function_anywhere", real_ppid, reinterpret_cast<void*>(fake_getppid)},
      {"getpgrp", real_pgrp, reinterpret_cast<void*>(fake_getpgrp)},
  };
  EXPECT_EQ(rebind_plt_calls(there, 4), 2);
  EXPECT_EQ(getppid(), 4242);
  EXPECT_EQ(getpgrp(), 4343);
  EXPECT_EQ(getuid(), uid);  // its slot was not pointed at the null target

  const ppagent::PltRebinding back[] = {
      {"getpgrp", reinterpret_cast<void*>(fake_getpgrp), real_pgrp},
      {"getppid", reinterpret_cast<void*>(fake_getppid), real_ppid},
  };
  EXPECT_EQ(rebind_plt_calls(back, 2), 2);
  EXPECT_EQ(getppid(), parent);
  EXPECT_EQ(getpgrp(), group);
}

TEST(PltRebinding, UnknownSymbolRewritesNothing) {
  EXPECT_EQ(rebind_plt_calls("no_such_function_anywhere", libc_function("getppid"),
                             reinterpret_cast<void*>(fake_getppid)),
            0);
}

}  // namespace
