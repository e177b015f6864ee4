#include "record/jemalloc_dump.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ppagent {

namespace {

// "  t*: curobjs: curbytes [accumobjs: accumbytes]"
bool parse_totals(const char* line, uint64_t v[4]) {
  return sscanf(line, " t*: %" SCNu64 ": %" SCNu64 " [%" SCNu64 ": %" SCNu64 "]", &v[0], &v[1],
                &v[2], &v[3]) == 4;
}

// "@ 0x... 0x..." into return addresses, innermost first.
std::vector<uintptr_t> parse_backtrace(const char* line) {
  std::vector<uintptr_t> stack;
  const char* p = line + 1;
  for (;;) {
    while (*p == ' ') p++;
    if (*p == '\0') break;
    char* end;
    unsigned long long pc = strtoull(p, &end, 16);
    if (end == p) break;
    stack.push_back(static_cast<uintptr_t>(pc));
    p = end;
  }
  return stack;
}

}  // namespace

bool parse_jemalloc_dump(const std::string& text, bool accumulated, JemallocDump* dump,
                         std::string* error) {
  dump->buckets.clear();
  unsigned long long period = 0;
  if (sscanf(text.c_str(), "heap_v2/%llu", &period) != 1 || period == 0) {
    *error = "not a jemalloc heap_v2 profile";
    return false;
  }
  dump->rate = static_cast<int64_t>(period);

  std::vector<uintptr_t> stack;
  bool in_backtrace = false;  // the next "t*" line belongs to `stack`
  size_t at = 0;
  std::string line;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    line.assign(text, at, end - at);
    at = end + 1;
    if (line.compare(0, 17, "MAPPED_LIBRARIES:") == 0) break;  // the rest is /proc/self/maps
    if (line[0] == '@') {
      stack = parse_backtrace(line.c_str());
      in_backtrace = true;
      continue;
    }
    uint64_t v[4];
    if (!in_backtrace || !parse_totals(line.c_str(), v)) continue;  // per-thread lines
    in_backtrace = false;
    if (stack.empty()) continue;
    HeapBucketSnapshot b;
    b.stack = std::move(stack);
    b.size = 0;
    const uint64_t cur_objs = v[0], cur_bytes = v[1];
    // Without prof_accum the cumulative pair is zero: count the live blocks
    // as the allocations. jemalloc's rounding of the unbiased values can
    // leave the cumulative pair a little below the current one: never let
    // the frees go negative.
    b.alloc_count = accumulated && v[2] >= cur_objs ? v[2] : cur_objs;
    b.alloc_bytes = accumulated && v[3] >= cur_bytes ? v[3] : cur_bytes;
    b.free_count = b.alloc_count - cur_objs;
    b.free_bytes = b.alloc_bytes - cur_bytes;
    if (b.alloc_count == 0) continue;
    dump->buckets.push_back(std::move(b));
  }
  return true;
}

}  // namespace ppagent
