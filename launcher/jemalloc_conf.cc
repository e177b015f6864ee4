#include "jemalloc_conf.h"

#include <cstdlib>
#include <vector>

#include "base/config.h"
#include "record/jemalloc_rate.h"

namespace ppagent {

std::string malloc_conf_for_backend(const std::string& backend, long mem_rate,
                                    const char* existing) {
  std::string keep = existing ? existing : "";
  if (backend == "interpose" || mem_rate <= 0) return keep;
  // prof_active from the start: allocations made before the agent's
  // constructor runs are sampled too. prof_accum: allocation totals, not only
  // what is still in use.
  std::string conf = "prof:true,prof_active:true,prof_accum:true,lg_prof_sample:" +
                     std::to_string(jemalloc_lg_sample(mem_rate));
  if (!keep.empty()) conf += "," + keep;
  return conf;
}

void set_jemalloc_conf() {
  // The agent parses the same variables; problems are its to report.
  std::vector<std::string> ignored;
  Config config = parse_config(getenv, "/", &ignored);
  const char* backend = config.heap_backend == Config::HeapBackend::kJemalloc ? "jemalloc"
                        : config.heap_backend == Config::HeapBackend::kAuto   ? "auto"
                                                                              : "interpose";
  std::string conf = malloc_conf_for_backend(backend, config.mem_rate, getenv("MALLOC_CONF"));
  if (!conf.empty()) setenv("MALLOC_CONF", conf.c_str(), 1);
}

}  // namespace ppagent
