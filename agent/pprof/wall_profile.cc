#include "pprof/wall_profile.h"

#include "base/process_maps.h"
#include "base/syscall_names.h"
#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "record/wall_sampler.h"

namespace ppagent {

std::string build_wall_profile(const std::vector<WallTrace>& traces,
                               const WallProfileParams& params, Symbolizer* symbolizer) {
  ProfileBuilder builder;
  builder.add_sample_type("samples", "count");
  builder.add_sample_type("wall", "nanoseconds");
  builder.set_period("wall", "nanoseconds", params.hz > 0 ? 1000000000LL / params.hz : 0);
  builder.set_time(params.start_unix_ns, params.duration_ns);
  builder.add_comment("dropped samples: " + std::to_string(params.dropped_samples));
  // A tick that runs out of time leaves threads for later ticks: fewer,
  // heavier samples, the same total time.
  builder.add_comment("wall: " + std::to_string(params.skipped_samples) +
                      " thread samples skipped: ticks over budget");

  LocationResolver locations(&builder, symbolizer, read_executable_mappings());
  locations.look_up_stacks_in_address_order(traces, /*first_is_sampled_pc=*/true);
  uint64_t no_stack_location = 0;
  for (const WallTrace& trace : traces) {
    std::vector<uint64_t> ids;
    ids.reserve(trace.stack.size());
    for (size_t i = 0; i < trace.stack.size(); i++)
      ids.push_back(locations.location_id(trace.stack[i], i > 0));
    if (ids.empty()) {
      // A running thread that did not answer for several ticks: its time
      // still counts, under one pseudo frame that says why.
      if (no_stack_location == 0) {
        const std::string name = "[running thread did not answer]";
        const uint64_t function = builder.function_id(name, name, "", 0);
        no_stack_location = builder.add_location(0, 0, {{function, 0}});
      }
      ids.push_back(no_stack_location);
    }
    const bool in_call = trace.tag != kWallRunning;
    std::vector<LabelInfo> labels = {
        {"thread_id", std::to_string(trace.tid), 0, "", false},
        {"thread_name", trace.thread_name, 0, "", false},
        {"state", in_call ? "syscall" : "running", 0, "", false},
    };
    if (in_call) labels.push_back({"syscall", syscall_name(trace.tag), 0, "", false});
    builder.add_sample(ids,
                       {static_cast<int64_t>(trace.samples), static_cast<int64_t>(trace.weight)},
                       labels);
  }
  locations.finish();
  return builder.encode();
}

}  // namespace ppagent
