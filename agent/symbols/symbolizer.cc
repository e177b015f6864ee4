#include "symbols/symbolizer.h"

#include <sys/auxv.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <memory>

namespace ppagent {

struct Symbolizer::State {
  std::vector<std::unique_ptr<Module>> modules;  // never removed: ModuleRefs index it
  std::map<FileIdentity, int> by_identity;
  int vdso = -1;
  DemangleCache demangle;
  SymbolizerCounters counters;
};

class Symbolizer::Locked {
 public:
  explicit Locked(Symbolizer* s) : s_(s) { pthread_mutex_lock(&s_->lock_); }
  ~Locked() { pthread_mutex_unlock(&s_->lock_); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  Symbolizer* s_;
};

namespace {

// Where the file a mapping shows can be opened now, and what it is. A deleted
// file (or one whose path is gone) is still reachable through the mapping
// itself (/proc/self/map_files: only the process has those, not its threads),
// or through the calling thread's exe link for the main executable (the
// process's own is gone once its main thread has ended).
bool locate_file(const MapEntry& mapping, std::string* open_path, struct stat* st) {
  if (!mapping.deleted && stat(mapping.path.c_str(), st) == 0 && S_ISREG(st->st_mode)) {
    *open_path = mapping.path;
    return true;
  }
  char map_file[64];
  snprintf(map_file, sizeof map_file, "/proc/self/map_files/%lx-%lx",
           static_cast<unsigned long>(mapping.start), static_cast<unsigned long>(mapping.limit));
  if (stat(map_file, st) == 0 && S_ISREG(st->st_mode)) {
    *open_path = map_file;
    return true;
  }
  if (mapping.main_executable && stat("/proc/thread-self/exe", st) == 0 && S_ISREG(st->st_mode)) {
    *open_path = "/proc/thread-self/exe";
    return true;
  }
  return false;
}

}  // namespace

Symbolizer* Symbolizer::shared() {
  static Symbolizer* const instance = new Symbolizer();
  return instance;
}

Symbolizer::Symbolizer(std::string debug_root)
    : state_(new State), debug_root_(std::move(debug_root)) {}

Symbolizer::~Symbolizer() { delete state_; }

ModuleRef Symbolizer::module(const MapEntry& mapping) {
  ModuleRef ref;
  if (mapping.path == "[vdso]") {
    // The vDSO is only in memory; its image starts the mapping.
    if (getauxval(AT_SYSINFO_EHDR) != mapping.start) return ref;
    Locked locked(this);
    if (state_->vdso < 0) {
      state_->modules.push_back(std::make_unique<Module>(
          reinterpret_cast<const uint8_t*>(mapping.start), mapping.limit - mapping.start));
      state_->vdso = static_cast<int>(state_->modules.size() - 1);
    }
    Module& m = *state_->modules[state_->vdso];
    if (m.open(state_->counters) && m.load_bias(mapping, &ref.bias)) ref.module = state_->vdso;
    return ref;
  }
  if (mapping.path.empty() || mapping.path[0] != '/') return ref;

  std::string open_path;
  struct stat st;
  if (!locate_file(mapping, &open_path, &st)) return ref;
  const FileIdentity identity = FileIdentity::of(st);

  Locked locked(this);
  auto found = state_->by_identity.find(identity);
  int index;
  if (found != state_->by_identity.end()) {
    index = found->second;
  } else {
    state_->modules.push_back(std::make_unique<Module>(identity, mapping.path, open_path));
    index = static_cast<int>(state_->modules.size() - 1);
    state_->by_identity.emplace(identity, index);
  }
  Module& m = *state_->modules[index];
  if (m.open(state_->counters) && m.load_bias(mapping, &ref.bias)) ref.module = index;
  return ref;
}

std::vector<SourceFrame> Symbolizer::frames(ModuleRef module, uintptr_t address) {
  if (!module.valid()) return {};
  Locked locked(this);
  if (static_cast<size_t>(module.module) >= state_->modules.size()) return {};
  ModuleContext context{debug_root_, state_->demangle, state_->counters};
  return state_->modules[module.module]->frames(address - module.bias, context);
}

std::string Symbolizer::build_id(ModuleRef module) {
  if (!module.valid()) return std::string();
  Locked locked(this);
  if (static_cast<size_t>(module.module) >= state_->modules.size()) return std::string();
  return state_->modules[module.module]->build_id();
}

std::vector<std::vector<SourceFrame>> Symbolizer::frames(const std::vector<uintptr_t>& addresses) {
  std::vector<MapEntry> mappings = read_executable_mappings();
  std::map<size_t, ModuleRef> modules;  // by index in `mappings`, resolved when first needed
  std::vector<std::vector<SourceFrame>> out(addresses.size());
  for (size_t i = 0; i < addresses.size(); i++) {
    for (size_t m = 0; m < mappings.size(); m++) {
      if (addresses[i] < mappings[m].start || addresses[i] >= mappings[m].limit) continue;
      auto found = modules.find(m);
      if (found == modules.end()) found = modules.emplace(m, module(mappings[m])).first;
      out[i] = frames(found->second, addresses[i]);
      break;
    }
  }
  return out;
}

std::vector<SourceFrame> Symbolizer::frames(uintptr_t address) {
  return std::move(frames(std::vector<uintptr_t>{address}).front());
}

std::string Symbolizer::build_id(uintptr_t address) {
  for (const MapEntry& m : read_executable_mappings())
    if (address >= m.start && address < m.limit) return build_id(module(m));
  return std::string();
}

void Symbolizer::child_after_fork() {
  // Only this thread runs in the child: a lock held now was held by a
  // thread of the parent, which will never release it here.
  const bool was_free = pthread_mutex_trylock(&lock_) == 0;
  lock_ = PTHREAD_MUTEX_INITIALIZER;
  if (!was_free) {
    const uint64_t abandoned = state_->counters.states_abandoned;
    state_ = new State;  // the old one is left as it is: it may be half-changed
    state_->counters.states_abandoned = abandoned + 1;
  }
}

SymbolizerCounters Symbolizer::counters() {
  Locked locked(this);
  return state_->counters;
}

void Symbolizer::with_lock_held_for_test(const std::function<void()>& fn) {
  Locked locked(this);
  fn();
}

}  // namespace ppagent
