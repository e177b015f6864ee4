#include "http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "agent_scope.h"
#include "agent_threads.h"
#include "config.h"
#include "http_request.h"
#include "live_profiles.h"
#include "log.h"
#include "symbols/symbolizer.h"

namespace ppagent {

namespace {

constexpr unsigned kConnectionLimit = 64;
constexpr unsigned kIdleTimeoutSeconds = 20;
// Bounds the request line and headers: larger ones get MHD's 431/414 answer.
constexpr size_t kConnectionMemory = 32 * 1024;
constexpr size_t kMaxSymbolBody = 64 * 1024;
// A body larger than this is not even read to its end: the connection is dropped.
constexpr size_t kMaxDiscardedBody = 1024 * 1024;
// Profiles built at the same moment (each loads debug info and copies the
// samples); further requests wait for a turn. Windows (seconds=N) do not
// take a turn while they wait, only Y1's code decides how they build.
constexpr int kConcurrentBuilds = 4;

MHD_Daemon* g_daemon = nullptr;
int g_listen_fd = -1;

constexpr char kTextType[] = "text/plain; charset=utf-8";

// What MHD keeps for one request between the calls of the access handler.
struct RequestState {
  std::string raw_uri;   // as received: the symbol GET reads its raw query
  std::string body;      // a POST to /symbol
  bool headers_seen = false;
  bool body_too_large = false;
  size_t discarded = 0;
};

void* on_request_start(void*, const char* uri, MHD_Connection*) {
  AgentScope scope;
  RequestState* state = new (std::nothrow) RequestState;
  if (state != nullptr && uri != nullptr) state->raw_uri = uri;
  return state;
}

void on_request_done(void*, MHD_Connection*, void** context, MHD_RequestTerminationCode) {
  AgentScope scope;
  delete static_cast<RequestState*>(*context);
  *context = nullptr;
}

MHD_Result send(MHD_Connection* connection, int status, const std::string& body,
                const std::string& content_type, const char* attachment_name = nullptr,
                const char* allow = nullptr) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", content_type.c_str());
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  if (attachment_name != nullptr) {
    std::string disposition = std::string("attachment; filename=\"") + attachment_name + "\"";
    MHD_add_response_header(response, "Content-Disposition", disposition.c_str());
  }
  if (allow != nullptr) MHD_add_response_header(response, "Allow", allow);
  // pprof prints the body of an answer that carries this header.
  if (status != MHD_HTTP_OK) MHD_add_response_header(response, "X-Go-Pprof", "1");
  MHD_Result result = MHD_queue_response(connection, static_cast<unsigned>(status), response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result send_error(MHD_Connection* connection, int status, const std::string& message,
                      const char* allow = nullptr) {
  return send(connection, status, message + "\n", kTextType, nullptr, allow);
}

// True once the client has closed or reset its end.
bool client_gone(int fd) {
  if (fd < 0) return false;
  struct pollfd pfd = {fd, POLLRDHUP, 0};
  return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

int connection_fd(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info != nullptr ? info->connect_fd : -1;
}

// Turns for building profiles, handed out in no particular order.
class BuildTurns {
 public:
  // False if the client left while waiting.
  bool take(const std::function<bool()>& cancelled) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (busy_ >= kConcurrentBuilds) {
      freed_.wait_for(lock, std::chrono::milliseconds(100));
      if (cancelled()) return false;
    }
    busy_++;
    return true;
  }
  void give_back() {
    std::lock_guard<std::mutex> lock(mutex_);
    busy_--;
    freed_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  int busy_ = 0;
};

BuildTurns* g_build_turns = nullptr;

MHD_Result serve_profile(MHD_Connection* connection, const HttpRoute& route) {
  const int fd = connection_fd(connection);
  LiveRequest request;
  request.kind = route.kind;
  request.seconds = route.seconds;
  request.text = route.text;
  request.cancelled = [fd] { return client_gone(fd); };
  const bool immediate = route.seconds == 0 && route.kind != LiveKind::kCpu;
  if (immediate && !g_build_turns->take(request.cancelled)) return MHD_NO;
  LiveResult result = produce_live_profile(request);
  if (immediate) g_build_turns->give_back();
  if (client_gone(fd)) return MHD_NO;  // nobody to answer
  if (result.status != MHD_HTTP_OK) return send_error(connection, result.status, result.body);
  const bool binary = result.content_type.empty() ||
                      result.content_type == "application/octet-stream";
  return send(connection, result.status, result.body,
              binary ? "application/octet-stream" : result.content_type,
              binary ? route.name.c_str() : nullptr);
}

MHD_Result serve_cmdline(MHD_Connection* connection) {
  std::string args;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) args.append(buf, static_cast<size_t>(n));
    close(fd);
  }
  if (!args.empty() && args.back() == '\0') args.pop_back();
  return send(connection, MHD_HTTP_OK, args, kTextType);
}

MHD_Result serve_symbol(MHD_Connection* connection, const RequestState& state, bool post) {
  std::string query;
  if (!post) {
    size_t q = state.raw_uri.find('?');
    if (q != std::string::npos) query = state.raw_uri.substr(q + 1);
  }
  std::vector<uint64_t> addresses = parse_symbol_request(post ? state.body : query);
  std::vector<ResolvedSymbol> symbols;
  if (!addresses.empty()) {
    std::vector<std::vector<SourceFrame>> frames = Symbolizer::shared()->frames(
        std::vector<uintptr_t>(addresses.begin(), addresses.end()));
    for (size_t i = 0; i < addresses.size(); i++) {
      // The innermost frame's linker name: pprof demangles it itself.
      if (!frames[i].empty()) symbols.push_back({addresses[i], frames[i].front().system_name});
    }
  }
  return send(connection, MHD_HTTP_OK, format_symbol_answer(symbols), kTextType);
}

struct IndexEntry {
  const char* name;
  LiveKind kind;
  const char* description;
  bool always_on = false;  // not a profile (cmdline)
};

constexpr IndexEntry kIndexEntries[] = {
    {"allocs", LiveKind::kAllocs, "A sampling of all past memory allocations"},
    {"cmdline", LiveKind::kCpu,
     "The command line invocation of the current program", true},
    {"block", LiveKind::kBlock,
     "Stack traces that led to blocking on synchronization primitives (condition variables, "
     "joins)"},
    {"goroutine", LiveKind::kThreads,
     "Stack traces of all current threads, one sample per distinct stack"},
    {"heap", LiveKind::kHeap, "A sampling of memory allocations of live objects"},
    {"mutex", LiveKind::kMutex, "Stack traces of holders of contended mutexes"},
    {"profile", LiveKind::kCpu,
     "CPU profile. You can specify the duration in the seconds GET parameter (default 30). "
     "After you get the profile file, use the go tool pprof command to investigate the profile."},
    {"threadcreate", LiveKind::kThreadCreate,
     "Stack traces that led to the creation of the threads alive now"},
};

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

MHD_Result serve_index(MHD_Connection* connection) {
  std::string page =
      "<html>\n<head>\n<title>/debug/pprof/</title>\n"
      "<style>\n.profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n"
      "</head>\n<body>\n/debug/pprof/\n<br>\n"
      "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n<br>\n"
      "Types of profiles available:\n<table>\n<thead><td>State</td><td>Profile</td></thead>\n";
  for (const IndexEntry& entry : kIndexEntries) {
    std::string how_to_enable;
    bool enabled = entry.always_on || live_kind_enabled(entry.kind, &how_to_enable);
    page += "\t<tr>\n\t<td>";
    page += enabled ? "on" : "off";
    page += "</td><td><a href='/debug/pprof/";
    page += entry.name;
    page += "?debug=1'>";
    page += entry.name;
    page += "</a>";
    if (!enabled) page += " (" + html_escape(how_to_enable) + ")";
    page += "</td>\n\t</tr>\n";
  }
  page += "</table>\n<a href=\"/debug/pprof/goroutine?debug=2\">full thread stack dump</a>\n"
          "<br>\n<p>\nProfile Descriptions:\n<ul>\n";
  for (const IndexEntry& entry : kIndexEntries) {
    page += "<li><div class=profile-name>";
    page += entry.name;
    page += ": </div> ";
    page += entry.description;
    page += "</li>\n";
  }
  page += "</ul>\n</p>\n</body>\n</html>\n";
  return send(connection, MHD_HTTP_OK, page, "text/html; charset=utf-8");
}

MHD_Result add_query_arg(void* raw, MHD_ValueKind, const char* key, const char* value) {
  auto* args = static_cast<std::vector<QueryArg>*>(raw);
  if (args->size() < 64) args->push_back({key ? key : "", value ? value : ""});
  return MHD_YES;
}

MHD_Result handle_request(void*, MHD_Connection* connection, const char* url,
                          const char* method, const char*, const char* upload_data,
                          size_t* upload_data_size, void** context) {
  AgentScope scope;
  auto* state = static_cast<RequestState*>(*context);
  if (state == nullptr) return MHD_NO;  // no memory for it: drop the connection
  const bool post = strcmp(method, "POST") == 0;

  if (!state->headers_seen) {
    state->headers_seen = true;
    if (post) {
      // Refuse an announced oversized body before reading any of it.
      const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_CONTENT_LENGTH);
      long long announced = 0;
      if (length != nullptr && parse_int_in_range(length, 0LL, 1LL << 62, &announced) &&
          static_cast<unsigned long long>(announced) > kMaxSymbolBody)
        return send_error(connection, MHD_HTTP_CONTENT_TOO_LARGE,
                          "request body too large (at most 65536 bytes)");
    }
    if (*upload_data_size == 0) return MHD_YES;  // the body, if any, comes next
  }
  if (*upload_data_size != 0) {
    size_t size = *upload_data_size;
    *upload_data_size = 0;
    if (!post) return MHD_YES;  // a body where none belongs is ignored
    if (state->body_too_large || state->body.size() + size > kMaxSymbolBody) {
      state->body_too_large = true;
      state->body.clear();
      state->discarded += size;
      return state->discarded > kMaxDiscardedBody ? MHD_NO : MHD_YES;
    }
    state->body.append(upload_data, size);
    return MHD_YES;
  }
  if (state->body_too_large)
    return send_error(connection, MHD_HTTP_CONTENT_TOO_LARGE,
                      "request body too large (at most 65536 bytes)");

  std::vector<QueryArg> args;
  MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, add_query_arg, &args);
  HttpRoute route = route_http_request(method, url, args);
  switch (route.endpoint) {
    case HttpEndpoint::kIndex: return serve_index(connection);
    case HttpEndpoint::kCmdline: return serve_cmdline(connection);
    case HttpEndpoint::kSymbol: return serve_symbol(connection, *state, post);
    case HttpEndpoint::kProfile: return serve_profile(connection, route);
    case HttpEndpoint::kError: break;
  }
  return send_error(connection, route.status, route.error,
                    route.allow.empty() ? nullptr : route.allow.c_str());
}

// libmicrohttpd calls this on an internal inconsistency instead of its
// default (a message on the program's stderr and abort()). On one of the
// server's threads only that thread ends, and the endpoint with it; the
// program runs on.
void on_mhd_panic(void*, const char* file, unsigned int line, const char* reason) {
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true))
    log_line("libmicrohttpd failed (%s:%u: %s); the live endpoint stops answering",
             file ? file : "?", line, reason ? reason : "?");
  if (is_agent_thread(current_tid())) {
    forget_agent_thread();
    pthread_exit(nullptr);
  }
  abort();  // on a program thread MHD cannot go on; this is its own default
}

// A forked child has none of the server's threads; it only lets go of the
// port, so that the port is free once the parent is gone.
void child_after_fork() {
  g_daemon = nullptr;
  if (g_listen_fd >= 0) close(g_listen_fd);
  g_listen_fd = -1;
}

}  // namespace

bool start_http_server(const Config& config) {
  if (config.http_host.empty()) return false;
  AgentScope scope;  // MHD's threads become agent threads (interpose_pthread.cc)
  const std::string where = config.http_host.find(':') != std::string::npos
                                ? "[" + config.http_host + "]:" + std::to_string(config.http_port)
                                : config.http_host + ":" + std::to_string(config.http_port);

  struct sockaddr_storage address;
  memset(&address, 0, sizeof address);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  if (config.http_host.find(':') != std::string::npos) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(config.http_port));
    if (inet_pton(AF_INET6, config.http_host.c_str(), &v6->sin6_addr) != 1) return false;
    flags |= MHD_USE_IPv6;
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(config.http_port));
    if (inet_pton(AF_INET, config.http_host.c_str(), &v4->sin_addr) != 1) return false;
  }

  g_build_turns = new BuildTurns;
  MHD_set_panic_func(on_mhd_panic, nullptr);
  g_daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, handle_request, nullptr,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<struct sockaddr*>(&address),
      MHD_OPTION_CONNECTION_LIMIT, kConnectionLimit,
      MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
      MHD_OPTION_URI_LOG_CALLBACK, on_request_start, nullptr,
      MHD_OPTION_NOTIFY_COMPLETED, on_request_done, nullptr,
      MHD_OPTION_END);
  if (g_daemon == nullptr) {
    log_line("cannot serve /debug/pprof on %s (address in use or not available here); "
             "the live endpoint is off", where.c_str());
    return false;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(g_daemon, MHD_DAEMON_INFO_LISTEN_FD);
  if (info != nullptr) {
    g_listen_fd = info->listen_fd;
    // The program's children started by exec must not inherit the port.
    int fd_flags = fcntl(g_listen_fd, F_GETFD);
    if (fd_flags >= 0 && !(fd_flags & FD_CLOEXEC)) fcntl(g_listen_fd, F_SETFD, fd_flags | FD_CLOEXEC);
  }
  pthread_atfork(nullptr, nullptr, child_after_fork);
  return true;
}

}  // namespace ppagent
