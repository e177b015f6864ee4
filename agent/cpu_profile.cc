#include "cpu_profile.h"

#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "locations.h"
#include "process_maps.h"
#include "profile_builder.h"
#include "symbolizer.h"

namespace ppagent {

std::string build_cpu_profile(const TraceStore& store, const CpuProfileParams& params,
                              Symbolizer* symbolizer) {
  const int64_t period = 1000000000LL / params.hz;
  ProfileBuilder builder;
  builder.add_sample_type("samples", "count");
  builder.add_sample_type("cpu", "nanoseconds");
  builder.set_period("cpu", "nanoseconds", period);
  builder.set_time(params.start_unix_ns, params.duration_ns);
  builder.add_comment("dropped samples: " + std::to_string(store.dropped_samples()));

  // The store may hold one trace in two slots (see TraceStore::add): merge.
  struct Totals {
    uint64_t weight = 0, samples = 0;
  };
  std::map<std::tuple<int32_t, std::string, std::vector<uintptr_t>>, Totals> traces;
  store.for_each([&](const TraceKey& key, uint64_t weight, uint64_t samples) {
    Totals& t = traces[{key.tid, std::string(key.thread_name, strnlen(key.thread_name, 16)),
                        std::vector<uintptr_t>(key.pcs, key.pcs + key.depth)}];
    t.weight += weight;
    t.samples += samples;
  });

  LocationResolver locations(&builder, symbolizer, read_executable_mappings());
  for (const auto& [key, totals] : traces) {
    const auto& [tid, thread_name, pcs] = key;
    std::vector<uint64_t> ids;
    ids.reserve(pcs.size());
    for (size_t i = 0; i < pcs.size(); i++) ids.push_back(locations.location_id(pcs[i], i > 0));
    // samples/count is the number of samples taken; cpu is the CPU time they
    // stand for, each sample weighted by the timer expiries it covers.
    std::vector<int64_t> values = {static_cast<int64_t>(totals.samples),
                                   static_cast<int64_t>(totals.weight) * period};
    LabelInfo tid_label{"thread_id", std::to_string(tid), 0, "", false};
    LabelInfo name_label{"thread_name", thread_name, 0, "", false};
    builder.add_sample(ids, values, {tid_label, name_label});
  }
  locations.finish();
  return builder.encode();
}

}  // namespace ppagent
