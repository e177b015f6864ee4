// Threads and threadcreate profiles in the shape of Go's goroutine and
// threadcreate profiles: one sample per distinct (stack, thread name), its
// value the number of threads, with a thread_name label and one thread_id
// label per thread.
#include "pprof/thread_profile.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/process_maps.h"
#include "pprof/locations.h"
#include "pprof/profile_builder.h"
#include "symbols/symbolizer.h"

namespace ppagent {

std::vector<ThreadGroup> group_threads(const std::vector<ThreadSample>& threads) {
  // Threads that did not answer have no stack: they group by name only.
  std::map<std::tuple<bool, std::vector<uintptr_t>, std::string>, ThreadGroup> by_key;
  for (const ThreadSample& t : threads) {
    std::vector<uintptr_t> stack = t.answered ? t.stack : std::vector<uintptr_t>();
    ThreadGroup& group = by_key[{t.answered, stack, t.name}];
    if (group.count == 0) {
      group.stack = std::move(stack);
      group.thread_name = t.name;
      group.answered = t.answered;
    }
    group.tids.push_back(t.tid);
    group.count++;
  }
  std::vector<ThreadGroup> groups;
  groups.reserve(by_key.size());
  for (auto& [key, group] : by_key) {
    std::sort(group.tids.begin(), group.tids.end());
    groups.push_back(std::move(group));
  }
  // Most threads first, then by name and first thread: a stable order to read.
  std::stable_sort(groups.begin(), groups.end(), [](const ThreadGroup& a, const ThreadGroup& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.thread_name != b.thread_name) return a.thread_name < b.thread_name;
    return a.tids.front() < b.tids.front();
  });
  return groups;
}

std::string build_thread_profile(const std::vector<ThreadGroup>& groups, ThreadProfileKind kind,
                                 int64_t time_unix_ns, Symbolizer* symbolizer, int deadline_ms) {
  const char* type = kind == ThreadProfileKind::kThreads ? "goroutine" : "threadcreate";
  ProfileBuilder builder;
  builder.add_sample_type(type, "count");
  builder.set_period(type, "count", 1);
  builder.set_time(time_unix_ns, 0);
  LocationResolver locations(&builder, symbolizer, read_executable_mappings());

  uint64_t no_answer_location = 0;
  for (const ThreadGroup& group : groups) {
    std::vector<uint64_t> ids;
    if (group.answered) {
      ids.reserve(group.stack.size());
      for (size_t i = 0; i < group.stack.size(); i++) {
        // A creation stack holds return addresses only; a thread's own stack
        // starts where it was interrupted.
        const bool return_address = kind == ThreadProfileKind::kThreadCreate || i > 0;
        ids.push_back(locations.location_id(group.stack[i], return_address));
      }
    } else {
      // One pseudo frame, so that these threads still count and say why
      // they have no stack.
      if (no_answer_location == 0) {
        std::string name = "[thread did not answer within " + std::to_string(deadline_ms) + " ms]";
        uint64_t function = builder.function_id(name, name, "", 0);
        no_answer_location = builder.add_location(0, 0, {{function, 0}});
      }
      ids.push_back(no_answer_location);
    }
    std::vector<LabelInfo> labels;
    labels.reserve(group.tids.size() + 1);
    LabelInfo name_label;
    name_label.key = "thread_name";
    name_label.str = group.thread_name;
    labels.push_back(name_label);
    for (pid_t tid : group.tids) {
      LabelInfo id_label;
      id_label.key = "thread_id";
      id_label.str = std::to_string(tid);
      labels.push_back(id_label);
    }
    builder.add_sample(ids, {group.count}, labels);
  }
  locations.finish();
  return builder.encode();
}

}  // namespace ppagent
