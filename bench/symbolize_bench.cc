// What the symbolizer costs (bench/README.md, "Symbolizer benchmark"):
// 1. the index of a large library (libLLVM-14, libclang-cpp-14: dlopened
//    here), built on its first lookup, and microseconds per distinct address
//    after it; the index of /usr/bin/node (not loaded);
// 2. two profile builds over the same addresses (LocationResolver), the
//    second from the cache;
// 3. libc with libc6-dbg's compressed DWARF: one address in a fresh process
//    (CPU ms, peak RSS), and then per distinct address; both without the
//    build-id cache (as the agent with PPROF_CACHE_DIR=off) and with a
//    temporary one that an earlier run filled (inflated sections, symbol
//    index, units' frames tables); then new addresses in the units read.
// Figures only; medians of --repeat runs.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "pprof/locations.h"
#include "base/process_maps.h"
#include "pprof/profile_builder.h"
#include "symbols/build_id_cache.h"
#include "symbols/symbolizer.h"

using namespace ppagent;

namespace {

double now_ms(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double cpu_ms() { return now_ms(CLOCK_PROCESS_CPUTIME_ID); }

long peak_rss_kib() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_maxrss;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

const MapEntry* mapping_named(const std::vector<MapEntry>& maps, const char* part) {
  for (const MapEntry& m : maps)
    if (m.path.find(part) != std::string::npos) return &m;
  return nullptr;
}

// `count` random addresses of the executable mapping, without repeats.
std::vector<uintptr_t> random_addresses(const MapEntry& m, size_t count, unsigned seed) {
  std::mt19937_64 random(seed);
  std::vector<uintptr_t> out;
  for (size_t i = 0; i < count; i++) out.push_back(m.start + random() % (m.limit - m.start));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::shuffle(out.begin(), out.end(), random);
  return out;
}

// Part 1: the index of `library` and lookups in it.
void library_figures(const char* library, int repeat) {
  char* path = realpath(library, nullptr);  // as /proc/self/maps names it
  if (path == nullptr || dlopen(library, RTLD_LAZY | RTLD_LOCAL) == nullptr) {
    printf("%s: not loaded\n", library);
    free(path);
    return;
  }
  std::vector<MapEntry> maps = read_executable_mappings();
  const MapEntry* m = mapping_named(maps, path);
  free(path);
  if (m == nullptr) return;
  std::vector<uintptr_t> addresses = random_addresses(*m, 20000, 1);
  std::vector<double> build, first, again;
  size_t named = 0, symbols_resolved = 0;
  for (int r = 0; r < repeat; r++) {
    Symbolizer symbolizer;
    ModuleRef module = symbolizer.module(*m);
    double t0 = cpu_ms();
    symbolizer.frames(module, addresses[0]);
    build.push_back(cpu_ms() - t0);
    named = 0;
    t0 = now_ms(CLOCK_MONOTONIC);
    for (size_t i = 1; i < addresses.size(); i++) named += !symbolizer.frames(module, addresses[i]).empty();
    first.push_back((now_ms(CLOCK_MONOTONIC) - t0) * 1e3 / (addresses.size() - 1));
    t0 = now_ms(CLOCK_MONOTONIC);
    for (size_t i = 1; i < addresses.size(); i++) symbolizer.frames(module, addresses[i]);
    again.push_back((now_ms(CLOCK_MONOTONIC) - t0) * 1e3 / (addresses.size() - 1));
    symbols_resolved = symbolizer.counters().addresses_resolved;
  }
  printf("%-26s index build + first lookup %7.1f ms CPU; %zu distinct addresses (%zu named): "
         "%.2f us each, %.2f us from the cache\n",
         library, median(build), symbols_resolved, named + 1, median(first), median(again));
}

// Part 2: profile builds over the same addresses, as the agent's writer does.
void profile_build_figures(const std::vector<uintptr_t>& addresses, int repeat) {
  std::vector<double> first, second;
  SymbolizerCounters after_first{}, after_second{};
  for (int r = 0; r < repeat; r++) {
    Symbolizer symbolizer;
    for (int pass = 0; pass < 2; pass++) {
      double t0 = now_ms(CLOCK_MONOTONIC);
      ProfileBuilder builder;
      LocationResolver locations(&builder, &symbolizer, read_executable_mappings());
      for (uintptr_t a : addresses) locations.location_id(a, false);
      locations.finish();
      (pass ? second : first).push_back(now_ms(CLOCK_MONOTONIC) - t0);
      (pass ? after_second : after_first) = symbolizer.counters();
    }
  }
  printf("profile build over %zu addresses: first %.1f ms, second %.1f ms "
         "(files opened %llu then %llu more, cache hits in the second: %llu)\n",
         addresses.size(), median(first), median(second),
         static_cast<unsigned long long>(after_first.files_opened),
         static_cast<unsigned long long>(after_second.files_opened - after_first.files_opened),
         static_cast<unsigned long long>(after_second.cache_hits - after_first.cache_hits));
}

// The index of a file that is not loaded here (an executable: node, with
// its 110,000-symbol .symtab), through the module directly.
void file_index_figures(const char* path, int repeat) {
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("%s: not found\n", path);
    return;
  }
  std::vector<double> build;
  size_t symbols = 0;
  for (int r = 0; r < repeat; r++) {
    SymbolizerCounters counters;
    DemangleCache demangle;
    const std::string root = kSystemDebugRoot;
    ModuleContext context{root, demangle, counters};
    Module module(FileIdentity::of(st), path, path);
    double t0 = cpu_ms();
    if (!module.open(counters)) return;
    symbols = module.frames(0, context).size();  // builds the index
    build.push_back(cpu_ms() - t0);
  }
  (void)symbols;
  printf("%-26s index build + first lookup %7.1f ms CPU (not loaded: file-relative lookups)\n",
         path, median(build));
}

uintptr_t g_start_call_main_pc;

uintptr_t libc_function(const std::string& name) {
  if (name == "__libc_start_call_main") return g_start_call_main_pc;
  void* f = dlsym(RTLD_DEFAULT, name.c_str());
  return f ? reinterpret_cast<uintptr_t>(f) + 4 : 0;
}

// Part 3, in a fresh process: one libc address, everything built for it.
int one_libc_address(const std::string& name) {
  uintptr_t address = libc_function(name);
  const long rss0 = peak_rss_kib();
  const double t0 = cpu_ms();
  Symbolizer symbolizer;
  std::vector<SourceFrame> frames = symbolizer.frames(address);
  const double cpu = cpu_ms() - t0;
  const long rss = peak_rss_kib() - rss0;
  SymbolizerCounters c = symbolizer.counters();
  printf("%.2f %ld %llu %s:%lld\n", cpu, rss, static_cast<unsigned long long>(c.dwarf_bytes_inflated),
         frames.empty() ? "?" : frames.back().file.c_str(),
         frames.empty() ? 0LL : static_cast<long long>(frames.back().line));
  return 0;
}

// A build-id cache directory of the bench's own, removed at the end.
struct TemporaryCache {
  TemporaryCache() {
    char dir[] = "/tmp/ppagent-bench-cache-XXXXXX";
    if (mkdtemp(dir) != nullptr) path = dir;
  }
  ~TemporaryCache() {
    if (!path.empty()) std::system(("rm -rf '" + path + "'").c_str());
  }
  std::string path;
};

// `cache`: "" for none, else a directory filled by a first run (not counted).
void libc_one_address_figures(int repeat, const std::string& cache) {
  printf("one libc address in a fresh process, libc6-dbg's DWARF (medians of %d), %s:\n", repeat,
         cache.empty() ? "no cache" : "cache filled by an earlier process");
  for (const char* name : {"__libc_start_call_main", "qsort", "malloc"}) {
    std::vector<double> cpu, rss;
    char line[512] = "";
    char self[4096] = "";
    if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return;
    for (int r = cache.empty() ? 0 : -1; r < repeat; r++) {
      std::string command = std::string(self) + (cache.empty() ? "" : " --cache " + cache) +
                            " --one " + name;
      FILE* child = popen(command.c_str(), "r");
      if (!child || !fgets(line, sizeof line, child)) break;
      pclose(child);
      double c, k;
      if (r >= 0 && sscanf(line, "%lf %lf", &c, &k) == 2) {
        cpu.push_back(c);
        rss.push_back(k);
      }
    }
    unsigned long long inflated = 0;
    char where[400] = "";
    sscanf(line, "%*f %*f %llu %399s", &inflated, where);
    printf("  %-24s %6.1f ms CPU, +%6.0f KiB peak RSS, %5.2f MB of DWARF inflated (%s)\n", name,
           median(cpu), median(rss), inflated / 1e6, where);
  }
}

void libc_dwarf_figures(int repeat, const std::string& cache) {
  std::vector<MapEntry> maps = read_executable_mappings();
  const MapEntry* m = mapping_named(maps, "/libc.so.6");
  if (m == nullptr) return;
  std::vector<uintptr_t> addresses = random_addresses(*m, 2000, 2);
  std::vector<double> first, again, neighbours;
  SymbolizerCounters c{};
  configure_build_id_cache(cache, false);
  for (int r = cache.empty() ? 0 : -1; r < repeat; r++) {
    Symbolizer symbolizer;
    ModuleRef module = symbolizer.module(*m);
    double t0 = now_ms(CLOCK_MONOTONIC);
    for (uintptr_t a : addresses) symbolizer.frames(module, a);
    if (r < 0) continue;  // filled the cache
    first.push_back((now_ms(CLOCK_MONOTONIC) - t0) * 1e3 / addresses.size());
    t0 = now_ms(CLOCK_MONOTONIC);
    for (uintptr_t a : addresses) symbolizer.frames(module, a);
    again.push_back((now_ms(CLOCK_MONOTONIC) - t0) * 1e3 / addresses.size());
    c = symbolizer.counters();
    // New addresses, next to the first ones: in units already read.
    t0 = now_ms(CLOCK_MONOTONIC);
    for (uintptr_t a : addresses) symbolizer.frames(module, a + 1);
    neighbours.push_back((now_ms(CLOCK_MONOTONIC) - t0) * 1e3 / addresses.size());
  }
  configure_build_id_cache("", false);
  printf("libc with libc6-dbg, %s: %zu distinct addresses over its text: %.1f us each "
         "(%.2f MB of DWARF inflated), %.2f us from the cache, %.2f us each for their "
         "neighbours (address + 1: new addresses in units already read)\n",
         cache.empty() ? "no cache" : "cache filled", addresses.size(), median(first),
         c.dwarf_bytes_inflated / 1e6, median(again), median(neighbours));
}

}  // namespace

int main(int argc, char** argv) {
  g_start_call_main_pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0)) - 1;
  int repeat = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cache") && i + 1 < argc) configure_build_id_cache(argv[++i], false);
    if (!strcmp(argv[i], "--one") && i + 1 < argc) return one_libc_address(argv[i + 1]);
    if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::max(1, atoi(argv[++i]));
  }
  printf("symbolize_bench, %d runs per figure (medians)\n", repeat);
  {
    TemporaryCache cache;
    for (const std::string& dir : {std::string(), cache.path}) {
      libc_one_address_figures(repeat, dir);
      libc_dwarf_figures(repeat, dir);
    }
  }
  const char* libraries[] = {"/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
                             "/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"};
  for (const char* library : libraries) library_figures(library, repeat);
  file_index_figures("/usr/bin/node", repeat);

  std::vector<uintptr_t> addresses;
  std::vector<MapEntry> maps = read_executable_mappings();
  for (const char* part : {"libLLVM-14", "libclang-cpp", "/libc.so.6"})
    if (const MapEntry* m = mapping_named(maps, part)) {
      std::vector<uintptr_t> some = random_addresses(*m, 2000, 3);
      addresses.insert(addresses.end(), some.begin(), some.end());
    }
  profile_build_figures(addresses, repeat);
  return 0;
}
