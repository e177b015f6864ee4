#include "live/http_server.h"

#include <dlfcn.h>

#include <string>

#include "base/agent_scope.h"
#include "base/agent_threads.h"
#include "base/config.h"
#include "base/log.h"
#include "live/http_endpoint.h"
#include "live/http_transport.h"

namespace ppagent {

namespace {

void log_message(const char* message) { log_line("%s", message); }

int leave_agent_thread() {
  if (!is_agent_thread(current_tid())) return 0;
  forget_agent_thread();
  return 1;
}

// The directory this library was loaded from, as the loader names it: the
// LD_PRELOAD path's directory (relative if that path was, and the working
// directory has not changed yet), or the one a search found it in.
std::string agent_directory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<const void*>(&start_http_server), &info) == 0 ||
      info.dli_fname == nullptr || info.dli_fname[0] == '\0')
    return {};
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool start_http_server(const Config& config) {
  if (config.http_host.empty()) return false;
  AgentScope scope;  // the transport's threads become agent threads (interpose_pthread.cc)
  const bool v6 = config.http_host.find(':') != std::string::npos;
  const std::string where = (v6 ? "[" + config.http_host + "]" : config.http_host) + ":" +
                            std::to_string(config.http_port);

  const std::string directory = agent_directory();
  if (directory.empty()) {
    log_line("cannot tell which directory libppagent.so was loaded from, where %s is; the live "
             "endpoint is off (give LD_PRELOAD the agent's path)", PPAGENT_HTTP_LIBRARY);
    return false;
  }
  const std::string library = directory + "/" + PPAGENT_HTTP_LIBRARY;
  // RTLD_LOCAL: its libraries (libmicrohttpd, gnutls, ...) stay out of the
  // program's symbol lookups. RTLD_NOW: everything bound now, before main.
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = dlerror();
    log_line("cannot load the live endpoint's library (%s); the live endpoint is off: put %s "
             "next to libppagent.so (meson install does) and install libmicrohttpd, or unset "
             "PPROF_HTTP", error != nullptr ? error : library.c_str(), PPAGENT_HTTP_LIBRARY);
    return false;
  }
  auto start = reinterpret_cast<ppagent_http_start_fn>(dlsym(handle, PPAGENT_HTTP_START));
  ppagent_http_host host;  // copied by the transport
  host.version = PPAGENT_HTTP_VERSION;
  host.size = sizeof host;
  host.address = config.http_host.c_str();
  host.port = static_cast<unsigned>(config.http_port);
  host.handle = answer_http_request;
  host.release = release_http_response;
  host.log = log_message;
  host.leave_agent_thread = leave_agent_thread;
  const int result = start != nullptr ? start(&host) : PPAGENT_HTTP_WRONG_VERSION;
  switch (result) {
    case PPAGENT_HTTP_STARTED:
      return true;
    case PPAGENT_HTTP_WRONG_VERSION:
      log_line("%s is not the live endpoint library of this libppagent.so (another version); "
               "the live endpoint is off: install both from the same build", library.c_str());
      break;
    case PPAGENT_HTTP_BAD_ADDRESS:
      log_line("cannot serve /debug/pprof on %s (not a numeric address); the live endpoint is off",
               where.c_str());
      break;
    default:
      log_line("cannot serve /debug/pprof on %s (address in use or not available here); "
               "the live endpoint is off", where.c_str());
  }
  // The library stays loaded: unloading a library that started threads or
  // registered fork handlers is not worth the risk.
  return false;
}

}  // namespace ppagent
