// Profiles made on demand (live_profiles.h): the current state of a profile,
// its difference over a window, or a CPU profile of a window.
#include "live/live_profiles.h"

#include <atomic>
#include <ctime>

#include "base/agent_scope.h"
#include "base/agent_state.h"
#include "base/clock.h"
#include "output/profile_file.h"
#include "pprof/profile_snapshot.h"
#include "pprof/profile_text.h"
#include "record/cpu_sampler.h"
#include "record/trace_store.h"
#include "symbols/symbolizer.h"

namespace ppagent {

namespace {

constexpr const char* kBinaryType = "application/octet-stream";
constexpr const char* kTextType = "text/plain; charset=utf-8";
constexpr int kDefaultCpuSeconds = 30;  // Go's default for /debug/pprof/profile
constexpr int kWindowCpuHz = 100;       // Go's rate for a CPU window
// How long a thread may take to answer the stack-capture signal.
constexpr int kThreadDeadlineMs = 200;

// Status for a request whose client went away: nobody reads it (nginx's
// "client closed request").
constexpr int kClientGone = 499;

LiveResult error_result(int status, std::string message) {
  LiveResult result;
  result.status = status;
  result.body = std::move(message);
  result.content_type = kTextType;
  return result;
}

bool is_cancelled(const LiveRequest& request) { return request.cancelled && request.cancelled(); }

// Waits `seconds`, polling the request every 100 ms; false if it was
// cancelled.
bool wait_window(const LiveRequest& request, int seconds) {
  const int64_t end = clock_ns(CLOCK_MONOTONIC) + static_cast<int64_t>(seconds) * 1000000000LL;
  for (;;) {
    if (is_cancelled(request)) return false;
    int64_t left = end - clock_ns(CLOCK_MONOTONIC);
    if (left <= 0) return true;
    int64_t step = left < 100000000LL ? left : 100000000LL;
    struct timespec pause = {0, static_cast<long>(step)};
    nanosleep(&pause, nullptr);
  }
}

// The time span of a profile: wall-clock start and monotonic length.
struct Window {
  int64_t start_unix_ns = 0, start_mono_ns = 0;
  static Window begin() { return {clock_ns(CLOCK_REALTIME), clock_ns(CLOCK_MONOTONIC)}; }
  int64_t length_ns() const { return clock_ns(CLOCK_MONOTONIC) - start_mono_ns; }
};

// Snapshot, wait `seconds`, snapshot: the second minus the first. False if
// the request was cancelled while waiting.
bool difference_over_window(const LiveRequest& request, int seconds, ProfileSnapshot* snapshot) {
  const ProfileSnapshot earlier = take_profile_snapshot(request.kind, kThreadDeadlineMs);
  if (!wait_window(request, seconds)) return false;
  *snapshot = take_profile_snapshot(request.kind, kThreadDeadlineMs);
  subtract_profile_snapshot(request.kind, earlier, snapshot);
  return true;
}

// ---- CPU windows ----------------------------------------------------------

// One CPU window at a time, as Go allows one CPU profile at a time.
std::atomic<bool> g_cpu_window_busy{false};

// The store of the last window that ran its own sampler. It is freed only
// when the next such window starts: a signal handler that passed the
// sampler's running check just before stop() may still be adding to it.
TraceStore* g_previous_window_store = nullptr;  // guarded by g_cpu_window_busy

constexpr size_t kWindowStacks = 16384, kWindowFramesPerStack = 64;

struct CpuWindowGuard {
  ~CpuWindowGuard() { g_cpu_window_busy.store(false); }
};

// CPU profiling is off for the run: a sampler of its own, at Go's rate, for
// the window only.
LiveResult own_sampler_window(const LiveRequest& request, int seconds, ProfileSnapshot* snapshot) {
  const AgentState state = agent_state();
  if (state.module_tables == nullptr)
    return error_result(500, "Could not enable CPU profiling: the agent is not running");
  delete g_previous_window_store;
  g_previous_window_store = nullptr;
  auto* store = new TraceStore(kWindowStacks, kWindowStacks * kWindowFramesPerStack);
  g_previous_window_store = store;
  if (!store->ok() || !CpuSampler::start(kWindowCpuHz, store, state.module_tables))
    return error_result(500, "Could not enable CPU profiling: cannot start the sampler");
  bool completed = wait_window(request, seconds);
  CpuSampler::stop();
  if (!completed) return error_result(kClientGone, "client went away");
  *snapshot = take_cpu_snapshot(*store, kWindowCpuHz);
  return {};
}

// The CPU samples of a window (a CPU profile is never a moment).
LiveResult cpu_window(const LiveRequest& request, ProfileSnapshot* snapshot) {
  if (g_cpu_window_busy.exchange(true))
    return error_result(500, "Could not enable CPU profiling: cpu profiling already in use");
  CpuWindowGuard guard;
  const int seconds = request.seconds > 0 ? request.seconds : kDefaultCpuSeconds;
  const AgentState state = agent_state();
  if (!(state.cpu_on && state.cpu_store != nullptr))
    return own_sampler_window(request, seconds, snapshot);
  // The whole-run sampler keeps running untouched: the window is the
  // difference of its store between the start and the end.
  if (!difference_over_window(request, seconds, snapshot))
    return error_result(kClientGone, "client went away");
  return {};
}

// The request's snapshot: CPU's window, another kind's state now or its
// difference over the window.
LiveResult take_live_snapshot(const LiveRequest& request, ProfileSnapshot* snapshot) {
  if (request.kind == ProfileKind::kCpu) return cpu_window(request, snapshot);
  if (request.seconds == 0) {
    *snapshot = take_profile_snapshot(request.kind, kThreadDeadlineMs);
    return {};
  }
  if (!difference_over_window(request, request.seconds, snapshot))
    return error_result(kClientGone, "client went away");
  return {};
}

}  // namespace

bool live_kind_enabled(ProfileKind kind, std::string* how_to_enable) {
  const ProfileKindInfo& info = profile_kind_info(kind);
  if (info.on == nullptr || agent_state().*info.on) return true;
  *how_to_enable = info.how_to_enable;
  return false;
}

LiveResult produce_live_profile(const LiveRequest& request) {
  AgentScope scope;
  std::string how_to_enable;
  if (!live_kind_enabled(request.kind, &how_to_enable)) return error_result(404, how_to_enable);
  if (request.seconds < 0) return error_result(400, "Bad Request: invalid seconds");

  const Window window = Window::begin();
  ProfileSnapshot snapshot;
  LiveResult failed = take_live_snapshot(request, &snapshot);
  if (failed.status != 200) return failed;
  const bool moment = request.kind != ProfileKind::kCpu && request.seconds == 0;
  int64_t start_unix_ns = window.start_unix_ns, duration_ns = moment ? 0 : window.length_ns();
  if (moment && request.kind == ProfileKind::kWall) {
    // Wall time is never a moment: without a window, the whole run so far.
    const AgentState state = agent_state();
    start_unix_ns = state.start_unix_ns;
    duration_ns = clock_ns(CLOCK_MONOTONIC) - state.start_mono_ns;
  }
  const std::string profile =
      build_profile(request.kind, snapshot, start_unix_ns, duration_ns, Symbolizer::shared());

  LiveResult result;
  if (request.text) {
    std::string error;
    if (!profile_text(profile, profile_kind_info(request.kind).url_name, &result.body, &error))
      return error_result(500, "cannot render the profile as text: " + error);
    result.content_type = kTextType;
  } else {
    result.body = gzip(profile);
    result.content_type = kBinaryType;
  }
  return result;
}

}  // namespace ppagent
