#include "pprof/heap_profile.h"

#include <cmath>

#include "base/process_maps.h"
#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "symbols/symbolizer.h"

namespace ppagent {

void scale_heap_sample(uint64_t count, uint64_t bytes, int64_t rate, int64_t* scaled_count,
                       int64_t* scaled_bytes) {
  if (count == 0 || bytes == 0) {
    *scaled_count = 0;
    *scaled_bytes = 0;
    return;
  }
  if (rate <= 1) {  // every allocation was recorded
    *scaled_count = static_cast<int64_t>(count);
    *scaled_bytes = static_cast<int64_t>(bytes);
    return;
  }
  double average = static_cast<double>(bytes) / static_cast<double>(count);
  double scale = 1.0 / (1.0 - std::exp(-average / static_cast<double>(rate)));
  *scaled_count = static_cast<int64_t>(static_cast<double>(count) * scale);
  *scaled_bytes = static_cast<int64_t>(static_cast<double>(bytes) * scale);
}

namespace {

// The heap profile, with in-use space as its default sample type.
void add_heap_profile(const std::vector<HeapBucketSnapshot>& buckets, int64_t rate,
                      int64_t time_unix_ns, Symbolizer* symbolizer, int64_t duration_ns,
                      ProfileBuilder* out) {
  ProfileBuilder& builder = *out;
  builder.add_sample_type("alloc_objects", "count");
  builder.add_sample_type("alloc_space", "bytes");
  builder.add_sample_type("inuse_objects", "count");
  builder.add_sample_type("inuse_space", "bytes");
  builder.set_period("space", "bytes", rate);
  builder.set_time(time_unix_ns, duration_ns);

  LocationResolver locations(&builder, symbolizer, read_executable_mappings());
  locations.look_up_stacks_in_address_order(buckets, /*first_is_sampled_pc=*/false);
  for (const HeapBucketSnapshot& b : buckets) {
    if (b.alloc_count == 0 && b.free_count == 0) continue;
    int64_t values[4];
    scale_heap_sample(b.alloc_count, b.alloc_bytes, rate, &values[0], &values[1]);
    // A delta bucket may have freed more than it allocated: scale the
    // magnitude (the scale depends only on the bucket's size) and negate.
    if (b.free_count > b.alloc_count) {
      scale_heap_sample(b.free_count - b.alloc_count, b.free_bytes - b.alloc_bytes, rate,
                        &values[2], &values[3]);
      values[2] = -values[2];
      values[3] = -values[3];
    } else {
      scale_heap_sample(b.alloc_count - b.free_count, b.alloc_bytes - b.free_bytes, rate,
                        &values[2], &values[3]);
    }
    std::vector<uint64_t> ids;
    ids.reserve(b.stack.size());
    // Every frame is a return address: the stack starts at malloc's caller.
    for (uintptr_t pc : b.stack) ids.push_back(locations.location_id(pc, true));
    // Size 0: a bucket of mixed sizes (jemalloc counts per stack only, and
    // deltas must match such buckets by stack alone): its label shows the
    // average size of its blocks.
    uint64_t size = b.size;
    if (size == 0 && b.alloc_count > 0) size = (b.alloc_bytes + b.alloc_count / 2) / b.alloc_count;
    else if (size == 0 && b.free_count > 0) size = (b.free_bytes + b.free_count / 2) / b.free_count;
    LabelInfo bytes_label{"bytes", "", static_cast<int64_t>(size), "", true};
    builder.add_sample(ids, {values, values + 4}, {bytes_label});
  }
  locations.finish();
}

}  // namespace

std::string build_heap_profile(const std::vector<HeapBucketSnapshot>& buckets, int64_t rate,
                               HeapProfileKind kind, int64_t time_unix_ns,
                               Symbolizer* symbolizer, int64_t duration_ns) {
  ProfileBuilder builder;
  add_heap_profile(buckets, rate, time_unix_ns, symbolizer, duration_ns, &builder);
  if (kind == HeapProfileKind::kAllocs) builder.set_default_sample_type("alloc_space");
  return builder.encode();
}

HeapProfiles build_heap_profiles(const std::vector<HeapBucketSnapshot>& buckets, int64_t rate,
                                 int64_t time_unix_ns, Symbolizer* symbolizer,
                                 int64_t duration_ns) {
  ProfileBuilder builder;
  add_heap_profile(buckets, rate, time_unix_ns, symbolizer, duration_ns, &builder);
  HeapProfiles both;
  both.heap = builder.encode();
  builder.set_default_sample_type("alloc_space");
  both.allocs = builder.encode();
  return both;
}

}  // namespace ppagent
