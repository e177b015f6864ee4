// What unloading does to walks (unwind/unload_guard.h, ModuleTables::unload):
// an unload waits for walks reading module memory, walks during an unload use
// cached rules only, and a module loaded again gets a new generation, so the
// rules cached for it before miss while it is still unwound through.
#include <gtest/gtest.h>

#include <atomic>
#include <dlfcn.h>
#include <thread>
#include <ucontext.h>
#include <unistd.h>

#include "reference_walk.h"
#include "unwind/stack_walker.h"
#include "unwind/unload_guard.h"

#ifndef WALK_PLUGIN_PATH
#error "WALK_PLUGIN_PATH must name tests/walk_plugin.so"
#endif

namespace ppagent {
namespace {

constexpr int kDepth = 64;

TEST(UnloadGuard, AnUnloadWaitsForWalksReadingModules) {
  std::atomic<bool> walking{false}, release{false}, unload_begun{false};
  std::thread walker([&] {
    WalkGuard guard;
    EXPECT_TRUE(guard.may_read_modules());
    walking = true;
    while (!release) usleep(1000);
  });
  while (!walking) usleep(1000);
  std::thread unloader([&] {
    begin_unload();
    unload_begun = true;
  });
  usleep(100000);
  EXPECT_FALSE(unload_begun) << "the unload went ahead while a walk read module memory";
  {
    WalkGuard during;  // the mark is set: a walk starting now reads no module memory
    EXPECT_FALSE(during.may_read_modules());
  }
  release = true;
  walker.join();
  unloader.join();
  EXPECT_TRUE(unload_begun);
  EXPECT_EQ(walks_reading_modules(), 0);
  end_unload();
  WalkGuard after;
  EXPECT_TRUE(after.may_read_modules());
}

struct WalkResult {
  ModuleTables* tables;
  int ours = 0, theirs = 0;
  bool same = false;
};

// Walks from here (inside the plugin's callback) with ours and libunwind's.
__attribute__((noinline)) int walk_here(void* raw) {
  auto* result = static_cast<WalkResult*>(raw);
  ucontext_t context;
  getcontext(&context);
  uintptr_t ours[kDepth], theirs[kDepth];
  result->ours = result->tables->walk(&context, StackBounds{}, ours, kDepth);
  result->theirs = reference_walk(&context, theirs, kDepth);
  result->same = result->ours == result->theirs;
  for (int i = 0; result->same && i < result->ours; i++) result->same = ours[i] == theirs[i];
  return 0;
}

using PluginCall = int (*)(int (*)(void*), void*);

TEST(ModuleUnload, APluginLoadedAgainGetsANewGenerationAndIsUnwoundThrough) {
  ModuleTables tables;
  tables.refresh(true);
  const uintptr_t in_program = reinterpret_cast<uintptr_t>(&walk_here);
  const uint32_t program_generation = tables.module_generation(in_program);
  ASSERT_NE(program_generation, 0u);

  uint32_t generations[2];
  for (int round = 0; round < 2; round++) {
    void* handle = dlopen(WALK_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << dlerror();
    auto call = reinterpret_cast<PluginCall>(dlsym(handle, "walk_plugin_call"));
    ASSERT_NE(call, nullptr);
    const uintptr_t in_plugin = reinterpret_cast<uintptr_t>(call);
    EXPECT_EQ(tables.module_generation(in_plugin), 0u) << "noted before a refresh";
    tables.refresh();
    generations[round] = tables.module_generation(in_plugin);
    EXPECT_NE(generations[round], 0u);

    WalkResult result{&tables};
    call(walk_here, &result);
    EXPECT_GT(result.ours, 4);
    EXPECT_TRUE(result.same) << "round " << round << ": ours " << result.ours << " frames, libunwind "
                             << result.theirs;

    ASSERT_EQ(tables.unload(handle, dlclose), 0);
    EXPECT_EQ(tables.module_generation(in_plugin), 0u) << "still noted after its dlclose";
  }
  EXPECT_NE(generations[0], generations[1]);
  EXPECT_EQ(tables.module_generation(in_program), program_generation)
      << "a module that stayed lost its cached rules";
}

struct UnloadWalks {
  int during_unload_cold = 0, full = 0, during_unload_cached = 0;
};

// All three walks start from one context taken here, whose frames stay live.
__attribute__((noinline)) void walk_around_unloads(ModuleTables* tables, UnloadWalks* out) {
  ucontext_t context;
  getcontext(&context);
  uintptr_t pcs[kDepth];
  begin_unload();
  // The leaf pc's rule was never cached: the walk stops at once.
  out->during_unload_cold = tables->walk(&context, StackBounds{}, pcs, kDepth);
  end_unload();
  out->full = tables->walk(&context, StackBounds{}, pcs, kDepth);  // caches every rule
  begin_unload();
  out->during_unload_cached = tables->walk(&context, StackBounds{}, pcs, kDepth);
  end_unload();
}

TEST(ModuleUnload, WalksDuringAnUnloadUseCachedRulesOnly) {
  ModuleTables tables;
  tables.refresh(true);
  UnloadWalks walks;
  walk_around_unloads(&tables, &walks);
  EXPECT_EQ(walks.during_unload_cold, 1);
  EXPECT_GT(walks.full, 3);
  EXPECT_EQ(walks.during_unload_cached, walks.full);
}

}  // namespace
}  // namespace ppagent
