// What an HTTP request to the live endpoint asks for, decided without any
// HTTP library or agent state (so that it can be unit-tested and fuzzed):
// the route and its validated parameters, or the error answer, the way
// Go's net/http/pprof decides them. Also the /debug/pprof/symbol protocol:
// reading the addresses of a request and writing the answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pprof/profile_kind.h"

namespace ppagent {

enum class HttpEndpoint { kIndex, kCmdline, kSymbol, kProfile, kError };

struct QueryArg {
  std::string key;
  std::string value;  // URL-decoded; empty for a key without '='
};

struct HttpRoute {
  HttpEndpoint endpoint = HttpEndpoint::kError;
  // kProfile: which profile, its URL name as requested (the download's file
  // name) and the validated parameters.
  ProfileKind kind = ProfileKind::kHeap;
  std::string name;
  int seconds = 0;    // 0 = not given
  bool text = false;  // debug=1 or debug=2
  // kError: the status and the one-line message (no trailing newline).
  int status = 200;
  std::string error;
  // For a 405: the methods the path accepts (the Allow header).
  std::string allow;
};

// `path` is the decoded path without the query; `method` as sent (HTTP
// methods are case-sensitive).
HttpRoute route_http_request(std::string_view method, std::string_view path,
                             const std::vector<QueryArg>& args);

// Most addresses one symbol request may ask for; the rest is ignored.
constexpr size_t kMaxSymbolAddresses = 10000;

// The addresses of a symbol request (the POST body, or the raw query of a
// GET): numbers joined by '+', as hex with 0x or decimal. Tokens that are not
// a nonzero number are skipped, as Go does; at most `max_count` are kept.
std::vector<uint64_t> parse_symbol_request(std::string_view text,
                                           size_t max_count = kMaxSymbolAddresses);

struct ResolvedSymbol {
  uint64_t address = 0;
  std::string name;
};

// "num_symbols: 1\n", then "0x<hex address> <name>\n" per symbol with a
// name. Control characters in names become '?', so every symbol is one line.
std::string format_symbol_answer(const std::vector<ResolvedSymbol>& symbols);

}  // namespace ppagent
