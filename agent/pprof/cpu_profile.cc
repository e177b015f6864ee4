#include "pprof/cpu_profile.h"

#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "base/config.h"
#include "base/process_maps.h"
#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "symbols/symbolizer.h"

namespace ppagent {

std::vector<CpuTrace> collect_cpu_traces(const TraceStore& store) {
  struct Totals {
    uint64_t weight = 0, samples = 0;
  };
  std::map<std::tuple<int32_t, std::string, std::vector<uintptr_t>, int32_t>, Totals> traces;
  store.for_each([&](const TraceKey& key, uint64_t weight, uint64_t samples) {
    Totals& t = traces[{key.tid, std::string(key.thread_name, strnlen(key.thread_name, 16)),
                        std::vector<uintptr_t>(key.pcs, key.pcs + key.depth), key.tag}];
    t.weight += weight;
    t.samples += samples;
  });
  std::vector<CpuTrace> out;
  out.reserve(traces.size());
  for (auto& [key, totals] : traces) {
    auto& [tid, thread_name, pcs, tag] = key;
    out.push_back(CpuTrace{tid, thread_name, pcs, totals.samples, totals.weight, tag});
  }
  return out;
}

std::string build_cpu_profile(const std::vector<CpuTrace>& traces, uint64_t dropped_samples,
                              const CpuProfileParams& params, Symbolizer* symbolizer) {
  const int64_t period = 1000000000LL / params.hz;
  ProfileBuilder builder;
  builder.add_sample_type("samples", "count");
  builder.add_sample_type("cpu", "nanoseconds");
  builder.set_period("cpu", "nanoseconds", period);
  builder.set_time(params.start_unix_ns, params.duration_ns);
  builder.add_comment("dropped samples: " + std::to_string(dropped_samples));
  // Which signal sampled: a reader can tell why a program that uses it itself
  // has a short profile.
  if (params.signal != 0)
    builder.add_comment("cpu signal: " + signal_name(params.signal) + " (" +
                        std::to_string(params.signal) + ")");

  LocationResolver locations(&builder, symbolizer, read_executable_mappings());
  locations.look_up_stacks_in_address_order(traces, /*first_is_sampled_pc=*/true);
  for (const CpuTrace& trace : traces) {
    std::vector<uint64_t> ids;
    ids.reserve(trace.stack.size());
    for (size_t i = 0; i < trace.stack.size(); i++)
      ids.push_back(locations.location_id(trace.stack[i], i > 0));
    // samples/count is the number of samples taken; cpu is the CPU time they
    // stand for, each sample weighted by the timer expiries it covers.
    std::vector<int64_t> values = {static_cast<int64_t>(trace.samples),
                                   static_cast<int64_t>(trace.weight) * period};
    LabelInfo tid_label{"thread_id", std::to_string(trace.tid), 0, "", false};
    LabelInfo name_label{"thread_name", trace.thread_name, 0, "", false};
    builder.add_sample(ids, values, {tid_label, name_label});
  }
  locations.finish();
  return builder.encode();
}

}  // namespace ppagent
