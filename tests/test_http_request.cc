#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "live/http_request.h"

namespace ppagent {
namespace {

HttpRoute get(const std::string& path, const std::vector<QueryArg>& args = {}) {
  return route_http_request("GET", path, args);
}

void expect_error(const HttpRoute& route, int status, const std::string& message) {
  EXPECT_EQ(route.endpoint, HttpEndpoint::kError);
  EXPECT_EQ(route.status, status);
  EXPECT_EQ(route.error, message);
}

TEST(HttpRoute, IndexCmdlineSymbol) {
  EXPECT_EQ(get("/debug/pprof").endpoint, HttpEndpoint::kIndex);
  EXPECT_EQ(get("/debug/pprof/").endpoint, HttpEndpoint::kIndex);
  EXPECT_EQ(route_http_request("HEAD", "/debug/pprof/", {}).endpoint, HttpEndpoint::kIndex);
  EXPECT_EQ(get("/debug/pprof/cmdline").endpoint, HttpEndpoint::kCmdline);
  EXPECT_EQ(get("/debug/pprof/symbol").endpoint, HttpEndpoint::kSymbol);
  EXPECT_EQ(route_http_request("POST", "/debug/pprof/symbol", {}).endpoint, HttpEndpoint::kSymbol);
}

TEST(HttpRoute, ProfileNames) {
  const struct {
    const char* name;
    ProfileKind kind;
  } cases[] = {{"profile", ProfileKind::kCpu},       {"heap", ProfileKind::kHeap},
               {"allocs", ProfileKind::kAllocs},     {"mutex", ProfileKind::kMutex},
               {"block", ProfileKind::kBlock},       {"goroutine", ProfileKind::kThreads},
               {"threads", ProfileKind::kThreads},   {"threadcreate", ProfileKind::kThreadCreate},
               {"wall", ProfileKind::kWall}};
  for (const auto& c : cases) {
    HttpRoute route = get(std::string("/debug/pprof/") + c.name);
    EXPECT_EQ(route.endpoint, HttpEndpoint::kProfile) << c.name;
    EXPECT_EQ(route.kind, c.kind) << c.name;
    EXPECT_EQ(route.name, c.name);
    EXPECT_EQ(route.seconds, 0);
    EXPECT_FALSE(route.text);
    EXPECT_TRUE(route.error.empty());
  }
}

TEST(HttpRoute, UnknownPathsAndTrace) {
  for (const char* path : {"/", "", "/debug", "/debug/pprofx", "/debug/pprof/nope",
                           "/debug/pprof/heap/", "/debug/pprof/heap/x", "/debug/pprof//heap",
                           "/DEBUG/PPROF/heap", "/debug/pprof/Heap", "/x/debug/pprof/heap"})
    expect_error(get(path), 404, "Unknown profile");
  HttpRoute trace = get("/debug/pprof/trace");
  EXPECT_EQ(trace.status, 404);
  EXPECT_NE(trace.error.find("only for Go programs"), std::string::npos) << trace.error;
}

TEST(HttpRoute, Methods) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "BREW"}) {
    HttpRoute route = route_http_request(method, "/debug/pprof/heap", {});
    EXPECT_EQ(route.status, 405) << method;
    EXPECT_EQ(route.allow, "GET, HEAD");
  }
  HttpRoute route = route_http_request("PUT", "/debug/pprof/symbol", {});
  EXPECT_EQ(route.status, 405);
  EXPECT_EQ(route.allow, "GET, HEAD, POST");
  EXPECT_EQ(route_http_request("POST", "/debug/pprof/", {}).status, 405);
  // The path is judged first: an unknown path is 404 whatever the method.
  EXPECT_EQ(route_http_request("PUT", "/debug/pprof/nope", {}).status, 404);
}

TEST(HttpRoute, Seconds) {
  HttpRoute route = get("/debug/pprof/heap", {{"seconds", "5"}});
  EXPECT_EQ(route.endpoint, HttpEndpoint::kProfile);
  EXPECT_EQ(route.seconds, 5);
  EXPECT_EQ(get("/debug/pprof/profile", {{"seconds", "3600"}}).seconds, 3600);
  EXPECT_EQ(get("/debug/pprof/profile", {{"seconds", "+2"}}).seconds, 2);
  EXPECT_EQ(get("/debug/pprof/profile", {{"seconds", ""}}).seconds, 0);  // empty = absent
  // Only the first value counts, as with Go's FormValue.
  EXPECT_EQ(get("/debug/pprof/heap", {{"seconds", "1"}, {"seconds", "x"}}).seconds, 1);
  for (const char* bad : {"0", "-1", "3601", "abc", "1.5", "1e3", " 1", "1 ", "0x10",
                          "99999999999999999999", "+"})
    for (const char* name : {"profile", "heap", "goroutine"})
      expect_error(get(std::string("/debug/pprof/") + name, {{"seconds", bad}}), 400,
                   "invalid value for \"seconds\" - must be a positive integer");
}

TEST(HttpRoute, Debug) {
  EXPECT_FALSE(get("/debug/pprof/heap", {{"debug", "0"}}).text);
  EXPECT_FALSE(get("/debug/pprof/heap", {{"debug", ""}}).text);
  EXPECT_TRUE(get("/debug/pprof/heap", {{"debug", "1"}}).text);
  EXPECT_TRUE(get("/debug/pprof/goroutine", {{"debug", "2"}}).text);
  for (const char* bad : {"3", "-1", "yes", "01", " 1"})
    expect_error(get("/debug/pprof/heap", {{"debug", bad}}), 400,
                 "invalid value for \"debug\" - must be 0, 1 or 2");
  // A delta cannot be text; a CPU window can.
  expect_error(get("/debug/pprof/heap", {{"seconds", "2"}, {"debug", "1"}}), 400,
               "seconds and debug params are incompatible");
  HttpRoute cpu = get("/debug/pprof/profile", {{"seconds", "2"}, {"debug", "1"}});
  EXPECT_EQ(cpu.endpoint, HttpEndpoint::kProfile);
  EXPECT_TRUE(cpu.text);
  EXPECT_EQ(get("/debug/pprof/heap", {{"seconds", "2"}, {"debug", "0"}}).seconds, 2);
  // Other arguments (Go's gc=1) are ignored.
  EXPECT_EQ(get("/debug/pprof/heap", {{"gc", "1"}}).endpoint, HttpEndpoint::kProfile);
}

TEST(SymbolRequest, Parses) {
  EXPECT_EQ(parse_symbol_request("0x401140+0x401179"),
            (std::vector<uint64_t>{0x401140, 0x401179}));
  EXPECT_EQ(parse_symbol_request("0X1aBc"), (std::vector<uint64_t>{0x1abc}));
  EXPECT_EQ(parse_symbol_request("4198720"), (std::vector<uint64_t>{4198720}));
  EXPECT_EQ(parse_symbol_request("0xffffffffffffffff"),
            (std::vector<uint64_t>{0xffffffffffffffffULL}));
  // Junk, zero, overflow and empty tokens are skipped.
  EXPECT_EQ(parse_symbol_request("junk+0x0+0x10+0x+0xg1++18446744073709551616+0x10000000000000000+"
                                 "0x20\n"),
            (std::vector<uint64_t>{0x10, 0x20}));
  EXPECT_TRUE(parse_symbol_request("").empty());
  EXPECT_TRUE(parse_symbol_request("+++").empty());
  std::string many;
  for (int i = 1; i <= 20; i++) many += "0x" + std::to_string(i) + "+";
  EXPECT_EQ(parse_symbol_request(many, 5).size(), 5u);
}

TEST(SymbolAnswer, Formats) {
  EXPECT_EQ(format_symbol_answer({}), "num_symbols: 1\n");
  EXPECT_EQ(format_symbol_answer({{0x401140, "main"}, {0x10, ""}, {0xabcdef0123, "_ZN3foo3barEv"}}),
            "num_symbols: 1\n0x401140 main\n0xabcdef0123 _ZN3foo3barEv\n");
  EXPECT_EQ(format_symbol_answer({{0, "a\nb"}}), "num_symbols: 1\n0x0 a?b\n");
}

}  // namespace
}  // namespace ppagent
