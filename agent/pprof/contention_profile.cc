#include "pprof/contention_profile.h"

#include "base/process_maps.h"
#include "pprof/locations.h"
#include "pprof/profile_builder.h"

namespace ppagent {

std::string build_contention_profile(const std::vector<ContentionSnapshot>& events,
                                     int64_t time_unix_ns, Symbolizer* symbolizer,
                                     int64_t duration_ns) {
  ProfileBuilder builder;
  builder.add_sample_type("contentions", "count");
  builder.add_sample_type("delay", "nanoseconds");
  builder.set_period("contentions", "count", 1);
  builder.set_time(time_unix_ns, duration_ns);
  LocationResolver locations(&builder, symbolizer, read_executable_mappings());
  locations.look_up_stacks_in_address_order(events, /*first_is_sampled_pc=*/false);
  for (const ContentionSnapshot& e : events) {
    std::vector<uint64_t> ids;
    ids.reserve(e.stack.size());
    // The stack starts at the caller of the lock, wait or unlock function.
    for (uintptr_t pc : e.stack) ids.push_back(locations.location_id(pc, true));
    builder.add_sample(ids, {e.count, e.delay_ns}, {});
  }
  locations.finish();
  return builder.encode();
}

}  // namespace ppagent
