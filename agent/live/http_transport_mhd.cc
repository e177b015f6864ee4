// libppagent-http.so: the live endpoint's transport (http_transport.h) on
// libmicrohttpd, one thread per connection. It reads requests within fixed
// bounds and hands each complete one to the agent; what a request means is
// the agent's business. Loaded by the agent only when PPROF_HTTP is set, so
// that libmicrohttpd and the libraries it brings (gnutls, nettle, ...) are
// never in a process that does not serve.
#include "live/http_transport.h"

#include "base/export.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr unsigned kConnectionLimit = 64;
constexpr unsigned kIdleTimeoutSeconds = 20;
// Bounds the request line and headers: larger ones get MHD's 431/414 answer.
constexpr size_t kConnectionMemory = 32 * 1024;
// The largest body handed to the agent (a /symbol POST); larger ones get 413.
constexpr size_t kMaxBody = 64 * 1024;
// A body larger than this is not even read to its end: the connection is dropped.
constexpr size_t kMaxDiscardedBody = 1024 * 1024;
// More query arguments than this are ignored.
constexpr size_t kMaxArgs = 64;

constexpr char kTextType[] = "text/plain; charset=utf-8";
constexpr char kBodyTooLarge[] = "request body too large (at most 65536 bytes)\n";

ppagent_http_host g_host;
MHD_Daemon* g_daemon = nullptr;
int g_listen_fd = -1;

// What MHD keeps for one request between the calls of the access handler.
struct RequestState {
  std::string raw_uri;  // as received: the agent gets its raw query
  std::string body;
  bool headers_seen = false;
  bool body_too_large = false;
  size_t discarded = 0;
  int fd = -1;  // the connection's socket, to see whether the client left
};

void* on_request_start(void*, const char* uri, MHD_Connection*) {
  RequestState* state = new (std::nothrow) RequestState;
  if (state != nullptr && uri != nullptr) state->raw_uri = uri;
  return state;
}

void on_request_done(void*, MHD_Connection*, void** context, MHD_RequestTerminationCode) {
  delete static_cast<RequestState*>(*context);
  *context = nullptr;
}

MHD_Result queue(MHD_Connection* connection, int status, const char* content_type,
                 const char* body, size_t body_size, const ppagent_http_header* headers,
                 unsigned header_count) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body_size, const_cast<char*>(body), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, "Content-Type", content_type);
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  for (unsigned i = 0; i < header_count; i++)
    if (headers[i].name != nullptr && headers[i].value != nullptr)
      MHD_add_response_header(response, headers[i].name, headers[i].value);
  // pprof prints the body of an answer that carries this header.
  if (status != MHD_HTTP_OK) MHD_add_response_header(response, "X-Go-Pprof", "1");
  MHD_Result result = MHD_queue_response(connection, static_cast<unsigned>(status), response);
  MHD_destroy_response(response);
  return result;
}

MHD_Result queue_body_too_large(MHD_Connection* connection) {
  return queue(connection, MHD_HTTP_CONTENT_TOO_LARGE, kTextType, kBodyTooLarge,
               sizeof kBodyTooLarge - 1, nullptr, 0);
}

// True once the client has closed or reset its end.
int client_gone(const ppagent_http_request* request) {
  const int fd = static_cast<const RequestState*>(request->transport)->fd;
  if (fd < 0) return 0;
  struct pollfd pfd = {fd, POLLRDHUP, 0};
  return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

int connection_fd(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info != nullptr ? info->connect_fd : -1;
}

// A Content-Length (decimal digits only) above kMaxBody; anything that is not
// a number is left to MHD's own check of the header.
bool announces_too_large(const char* length) {
  if (*length == '\0') return false;
  size_t value = 0;
  for (const char* c = length; *c != '\0'; c++) {
    if (*c < '0' || *c > '9') return false;
    if (value <= kMaxBody) value = value * 10 + static_cast<size_t>(*c - '0');
  }
  return value > kMaxBody;
}

struct Args {
  std::vector<ppagent_http_arg> list;
};

MHD_Result add_query_arg(void* raw, MHD_ValueKind, const char* key, const char* value) {
  auto* args = static_cast<Args*>(raw);
  if (args->list.size() < kMaxArgs) args->list.push_back({key ? key : "", value ? value : ""});
  return MHD_YES;
}

// The complete request, to the agent and its answer back.
MHD_Result answer(MHD_Connection* connection, const char* url, const char* method,
                  RequestState* state) {
  Args args;
  MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, add_query_arg, &args);
  const size_t q = state->raw_uri.find('?');
  const char* raw_query = q == std::string::npos ? "" : state->raw_uri.c_str() + q + 1;
  state->fd = connection_fd(connection);

  ppagent_http_request request;
  request.method = method;
  request.path = url;
  request.raw_query = raw_query;
  request.args = args.list.data();
  request.arg_count = args.list.size();
  request.body = state->body.data();
  request.body_size = state->body.size();
  request.client_gone = client_gone;
  request.transport = state;

  ppagent_http_response response;
  memset(&response, 0, sizeof response);
  g_host.handle(&request, &response);
  MHD_Result result = MHD_NO;  // status 0: drop the connection
  if (response.status != 0) {
    result = queue(connection, response.status,
                   response.content_type != nullptr ? response.content_type : kTextType,
                   response.body != nullptr ? response.body : "", response.body_size,
                   response.headers,
                   response.header_count < PPAGENT_HTTP_MAX_HEADERS ? response.header_count
                                                                    : PPAGENT_HTTP_MAX_HEADERS);
  }
  g_host.release(&response);
  return result;
}

MHD_Result handle_request(void*, MHD_Connection* connection, const char* url,
                          const char* method, const char*, const char* upload_data,
                          size_t* upload_data_size, void** context) {
  auto* state = static_cast<RequestState*>(*context);
  if (state == nullptr) return MHD_NO;  // no memory for it: drop the connection
  const bool post = strcmp(method, "POST") == 0;

  if (!state->headers_seen) {
    state->headers_seen = true;
    if (post) {
      // Refuse an announced oversized body before reading any of it.
      const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (length != nullptr && announces_too_large(length)) return queue_body_too_large(connection);
    }
    if (*upload_data_size == 0) return MHD_YES;  // the body, if any, comes next
  }
  if (*upload_data_size != 0) {
    size_t size = *upload_data_size;
    *upload_data_size = 0;
    if (!post) return MHD_YES;  // a body where none belongs is ignored
    if (state->body_too_large || state->body.size() + size > kMaxBody) {
      state->body_too_large = true;
      state->body.clear();
      state->discarded += size;
      return state->discarded > kMaxDiscardedBody ? MHD_NO : MHD_YES;
    }
    state->body.append(upload_data, size);
    return MHD_YES;
  }
  if (state->body_too_large) return queue_body_too_large(connection);
  return answer(connection, url, method, state);
}

// libmicrohttpd calls this on an internal inconsistency instead of its
// default (a message on the program's stderr and abort()). On one of the
// server's threads only that thread ends, and the endpoint with it; the
// program runs on.
void on_mhd_panic(void*, const char* file, unsigned int line, const char* reason) {
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true)) {
    char message[512];
    snprintf(message, sizeof message,
             "libmicrohttpd failed (%s:%u: %s); the live endpoint stops answering",
             file ? file : "?", line, reason ? reason : "?");
    g_host.log(message);
  }
  if (g_host.leave_agent_thread()) pthread_exit(nullptr);
  abort();  // on a program thread MHD cannot go on; this is its own default
}

// A forked child has none of the server's threads; it only lets go of the
// port, so that the port is free once the parent is gone.
void child_after_fork() {
  g_daemon = nullptr;
  if (g_listen_fd >= 0) close(g_listen_fd);
  g_listen_fd = -1;
}

bool fill_address(const char* text, unsigned port, sockaddr_storage* address, bool* v6) {
  memset(address, 0, sizeof *address);
  *v6 = strchr(text, ':') != nullptr;
  if (*v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(address);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    return inet_pton(AF_INET6, text, &a->sin6_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(address);
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, text, &a->sin_addr) == 1;
}

}  // namespace

PPAGENT_EXPORT int ppagent_http_start(
    const ppagent_http_host* host) {
  if (host == nullptr || host->version != PPAGENT_HTTP_VERSION || host->size != sizeof g_host ||
      host->handle == nullptr || host->release == nullptr || host->log == nullptr ||
      host->leave_agent_thread == nullptr)
    return PPAGENT_HTTP_WRONG_VERSION;
  if (g_daemon != nullptr) return PPAGENT_HTTP_CANNOT_LISTEN;  // one server per process
  sockaddr_storage address;
  bool v6 = false;
  if (host->address == nullptr || host->port == 0 || host->port > 65535 ||
      !fill_address(host->address, host->port, &address, &v6))
    return PPAGENT_HTTP_BAD_ADDRESS;
  g_host = *host;

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  if (v6) flags |= MHD_USE_IPv6;
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
  if (g_daemon == nullptr) return PPAGENT_HTTP_CANNOT_LISTEN;
  const MHD_DaemonInfo* info = MHD_get_daemon_info(g_daemon, MHD_DAEMON_INFO_LISTEN_FD);
  if (info != nullptr) {
    g_listen_fd = info->listen_fd;
    // The program's children started by exec must not inherit the port.
    int fd_flags = fcntl(g_listen_fd, F_GETFD);
    if (fd_flags >= 0 && !(fd_flags & FD_CLOEXEC)) fcntl(g_listen_fd, F_SETFD, fd_flags | FD_CLOEXEC);
  }
  pthread_atfork(nullptr, nullptr, child_after_fork);
  return PPAGENT_HTTP_STARTED;
}
