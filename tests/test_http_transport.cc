// libppagent-http.so on its own, through its one entry point
// (agent/live/http_transport.h): dlopened as the agent opens it, with a stand-in
// host whose handler answers by the request's path, and raw HTTP/1.1 over a
// loopback socket. The library comes from $PPAGENT_HTTP_LIBRARY (set by
// tests/meson.build to the one just built).
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "live/http_transport.h"

namespace {

// What the handler saw of the last request to a path (one request at a time).
struct Seen {
  std::string method, path, raw_query, body;
  std::vector<std::pair<std::string, std::string>> args;
};

std::mutex g_mutex;
Seen g_seen;
std::atomic<int> g_handled{0}, g_released{0};
std::atomic<bool> g_waiting{false};  // /wait-for-close is in the handler
std::atomic<int> g_saw_close{-1};    // /wait-for-close: 1 once client_gone said so, 0 if never

struct Owned {
  std::string body;
};

void handle(const ppagent_http_request* request, ppagent_http_response* response) {
  g_handled++;
  const std::string path = request->path;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_seen = Seen{request->method, path, request->raw_query,
                  std::string(request->body, request->body_size), {}};
    for (size_t i = 0; i < request->arg_count; i++)
      g_seen.args.emplace_back(request->args[i].key, request->args[i].value);
  }
  auto* owned = new Owned;
  response->owner = owned;
  if (path == "/drop") return;  // status 0
  if (path == "/wait-for-close") {
    g_waiting = true;
    int gone = 0;
    for (int i = 0; i < 3000 && !gone; i++) {  // gives up after about 30 s
      gone = request->client_gone(request);
      if (!gone) usleep(10000);
    }
    g_saw_close = gone;
    return;
  }
  response->status = path == "/missing" ? 404 : 200;
  owned->body = path == "/missing" ? "Unknown profile\n" : "hello " + path;
  response->content_type = "text/x-test";
  response->body = owned->body.data();
  response->body_size = owned->body.size();
  response->headers[0] = {"X-Extra", "extra value"};
  response->header_count = 1;
}

void release(ppagent_http_response* response) {
  g_released++;
  delete static_cast<Owned*>(response->owner);
}

std::vector<std::string> g_log;
void log(const char* message) { g_log.push_back(message); }
int leave_agent_thread() { return 0; }

ppagent_http_start_fn load_start() {
  const char* path = getenv("PPAGENT_HTTP_LIBRARY");
  if (path == nullptr) return nullptr;
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return nullptr;
  return reinterpret_cast<ppagent_http_start_fn>(dlsym(handle, PPAGENT_HTTP_START));
}

ppagent_http_host make_host(const char* address, unsigned port) {
  ppagent_http_host host;
  memset(&host, 0, sizeof host);
  host.version = PPAGENT_HTTP_VERSION;
  host.size = sizeof host;
  host.address = address;
  host.port = port;
  host.handle = handle;
  host.release = release;
  host.log = log;
  host.leave_agent_thread = leave_agent_thread;
  return host;
}

// A loopback port nothing listens on (bound to 0, released).
unsigned free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int connect_to(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout = {30, 0};  // a hung server fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server stopped reading; its answer is read next
    sent += static_cast<size_t>(n);
  }
}

// Sends `request` and reads until the server closes the connection.
std::string round_trip(unsigned port, const std::string& request) {
  int fd = connect_to(port);
  if (fd < 0) return "(cannot connect)";
  send_all(fd, request);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return answer;
}

bool has_header(const std::string& answer, const std::string& line) {
  const size_t end = answer.find("\r\n\r\n");
  return answer.substr(0, end).find("\r\n" + line + "\r\n") != std::string::npos;
}

std::string body_of(const std::string& answer) {
  const size_t end = answer.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : answer.substr(end + 4);
}

class HttpTransport : public testing::Test {
 protected:
  // One server for the whole program: the transport serves at most once per process.
  static void SetUpTestSuite() {
    ppagent_http_start_fn start = load_start();
    ASSERT_NE(start, nullptr) << "cannot load $PPAGENT_HTTP_LIBRARY: " << dlerror();
    for (int attempt = 0; attempt < 20 && port_ == 0; attempt++) {
      unsigned port = free_port();
      ppagent_http_host host = make_host("127.0.0.1", port);
      if (start(&host) == PPAGENT_HTTP_STARTED) port_ = port;
    }
    ASSERT_NE(port_, 0u) << "the transport did not start on any free port";
  }
  static unsigned port_;
};
unsigned HttpTransport::port_ = 0;

TEST(HttpTransportStart, RefusesAHostOfAnotherVersion) {
  ppagent_http_start_fn start = load_start();
  ASSERT_NE(start, nullptr);
  ppagent_http_host host = make_host("127.0.0.1", free_port());
  host.version = PPAGENT_HTTP_VERSION + 1;
  EXPECT_EQ(start(&host), PPAGENT_HTTP_WRONG_VERSION);
  host = make_host("127.0.0.1", free_port());
  host.size = sizeof host - sizeof(void*);
  EXPECT_EQ(start(&host), PPAGENT_HTTP_WRONG_VERSION);
  EXPECT_EQ(start(nullptr), PPAGENT_HTTP_WRONG_VERSION);
}

TEST(HttpTransportStart, RefusesANameInsteadOfANumericAddress) {
  ppagent_http_start_fn start = load_start();
  ASSERT_NE(start, nullptr);
  ppagent_http_host host = make_host("localhost", free_port());
  EXPECT_EQ(start(&host), PPAGENT_HTTP_BAD_ADDRESS);
  host = make_host("127.0.0.1", 0);
  EXPECT_EQ(start(&host), PPAGENT_HTTP_BAD_ADDRESS);
}

TEST_F(HttpTransport, GetReachesTheHandlerAndItsAnswerTheClient) {
  std::string answer = round_trip(
      port_, "GET /some/pa%74h?x=1&flag&y=%41%2b&x=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
  EXPECT_TRUE(has_header(answer, "Content-Type: text/x-test")) << answer;
  EXPECT_TRUE(has_header(answer, "X-Content-Type-Options: nosniff")) << answer;
  EXPECT_TRUE(has_header(answer, "X-Extra: extra value")) << answer;
  EXPECT_EQ(answer.find("X-Go-Pprof"), std::string::npos) << answer;
  EXPECT_EQ(body_of(answer), "hello /some/path");
  std::lock_guard<std::mutex> lock(g_mutex);
  EXPECT_EQ(g_seen.method, "GET");
  EXPECT_EQ(g_seen.path, "/some/path");
  EXPECT_EQ(g_seen.raw_query, "x=1&flag&y=%41%2b&x=2");
  const std::vector<std::pair<std::string, std::string>> args = {
      {"x", "1"}, {"flag", ""}, {"y", "A+"}, {"x", "2"}};
  EXPECT_EQ(g_seen.args, args);
  EXPECT_EQ(g_seen.body, "");
}

TEST_F(HttpTransport, AnErrorStatusCarriesTheGoPprofHeader) {
  std::string answer =
      round_trip(port_, "GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 404 ", 0), 0u) << answer;
  EXPECT_TRUE(has_header(answer, "X-Go-Pprof: 1")) << answer;
  EXPECT_EQ(body_of(answer), "Unknown profile\n");
}

TEST_F(HttpTransport, APostBodyReachesTheHandler) {
  const std::string body = "0x401140+0x401179";
  std::string answer = round_trip(port_, "POST /post HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                       "Content-Length: " + std::to_string(body.size()) +
                                       "\r\n\r\n" + body);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
  std::lock_guard<std::mutex> lock(g_mutex);
  EXPECT_EQ(g_seen.method, "POST");
  EXPECT_EQ(g_seen.body, body);
}

TEST_F(HttpTransport, BodiesOverTheLimitGet413WithoutTheHandler) {
  const int handled = g_handled;
  std::string announced = round_trip(port_, "POST /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                          "Content-Length: 65537\r\n\r\n");
  EXPECT_EQ(announced.rfind("HTTP/1.1 413 ", 0), 0u) << announced;
  EXPECT_TRUE(has_header(announced, "X-Go-Pprof: 1")) << announced;
  EXPECT_EQ(body_of(announced), "request body too large (at most 65536 bytes)\n");

  // Chunked: the size shows only while reading.
  std::string chunk(40000, 'a');
  char size[16];
  snprintf(size, sizeof size, "%zx", chunk.size());
  std::string chunked = round_trip(
      port_, "POST /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" +
                 std::string(size) + "\r\n" + chunk + "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 413 ", 0), 0u) << chunked;
  EXPECT_EQ(g_handled, handled);
}

TEST_F(HttpTransport, StatusZeroDropsTheConnection) {
  std::string answer = round_trip(port_, "GET /drop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer, "");
}

TEST_F(HttpTransport, TheHandlerSeesTheClientLeave) {
  g_waiting = false;
  g_saw_close = -1;
  int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /wait-for-close HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 3000 && !g_waiting; i++) usleep(10000);
  ASSERT_TRUE(g_waiting) << "the request never reached the handler";
  close(fd);
  for (int i = 0; i < 4000 && g_saw_close < 0; i++) usleep(10000);
  EXPECT_EQ(g_saw_close, 1);
}

TEST_F(HttpTransport, EveryAnswerIsReleased) {
  round_trip(port_, "GET /again HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  // The release follows the queueing of the answer, which the client may see first.
  for (int i = 0; i < 3000 && g_released != g_handled; i++) usleep(10000);
  EXPECT_EQ(g_released.load(), g_handled.load());
  EXPECT_TRUE(g_log.empty());
}

}  // namespace
