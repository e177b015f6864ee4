// libFuzzer target for the live endpoint's request handling (agent/live/http_request.cc).
// The input is split at '\n' into: method, path, "key=value" query arguments
// (up to the first empty line), then the body. Invariants are checked with
// __builtin_trap so that a violation is a crash the fuzzer reports.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "live/http_request.h"

using namespace ppagent;

namespace {

void check(bool condition) {
  if (!condition) __builtin_trap();
}

std::string_view next_line(std::string_view* rest) {
  size_t end = rest->find('\n');
  std::string_view line = rest->substr(0, end);
  rest->remove_prefix(end == std::string_view::npos ? rest->size() : end + 1);
  return line;
}

void check_route(const HttpRoute& route, std::string_view method) {
  if (route.endpoint == HttpEndpoint::kError) {
    check(route.status >= 400 && route.status < 600);
    check(!route.error.empty());
    check(route.error.find('\n') == std::string::npos);
    check((route.status == 405) == !route.allow.empty());
    return;
  }
  check(route.status == 200);
  check(route.error.empty());
  check(route.allow.empty());
  if (route.endpoint == HttpEndpoint::kSymbol)
    check(method == "GET" || method == "HEAD" || method == "POST");
  else
    check(method == "GET" || method == "HEAD");
  if (route.endpoint == HttpEndpoint::kProfile) {
    ProfileKind kind;
    check(profile_kind_by_url_name(route.name, &kind) && kind == route.kind);
    check(route.seconds >= 0 && route.seconds <= 3600);
    check(!(route.text && route.seconds > 0 && route.kind != ProfileKind::kCpu));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view method = next_line(&rest);
  std::string_view path = next_line(&rest);
  std::vector<QueryArg> args;
  while (!rest.empty()) {
    std::string_view line = next_line(&rest);
    if (line.empty()) break;
    size_t equals = line.find('=');
    args.push_back({std::string(line.substr(0, equals)),
                    equals == std::string_view::npos ? std::string()
                                                     : std::string(line.substr(equals + 1))});
  }
  std::string_view body = rest;

  check_route(route_http_request(method, path, args), method);

  std::vector<uint64_t> addresses = parse_symbol_request(body, 64);
  check(addresses.size() <= 64);
  std::vector<ResolvedSymbol> symbols;
  for (uint64_t address : addresses) {
    check(address != 0);
    // Names from the fuzz input too: formatting must keep one symbol per line.
    symbols.push_back({address, std::string(body.substr(0, address % 16))});
  }
  std::string answer = format_symbol_answer(symbols);
  check(answer.rfind("num_symbols: 1\n", 0) == 0);
  check(answer.back() == '\n');
  size_t lines = 0;
  for (char c : answer) lines += c == '\n';
  size_t named = 0;
  for (const ResolvedSymbol& symbol : symbols) named += !symbol.name.empty();
  check(lines == 1 + named);
  // Every address line parses back to the address it was written for.
  size_t at = answer.find('\n') + 1;
  size_t index = 0;
  for (const ResolvedSymbol& symbol : symbols) {
    if (symbol.name.empty()) continue;
    size_t space = answer.find(' ', at);
    std::vector<uint64_t> back = parse_symbol_request(std::string_view(answer).substr(at, space - at));
    check(back.size() == 1 && back[0] == symbol.address);
    at = answer.find('\n', at) + 1;
    index++;
  }
  check(index == named);
  return 0;
}
