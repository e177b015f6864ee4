#include "live/http_request.h"

namespace ppagent {

namespace {

constexpr std::string_view kPrefix = "/debug/pprof";
constexpr int kMaxSeconds = 3600;

HttpRoute error_route(int status, std::string message) {
  HttpRoute route;
  route.endpoint = HttpEndpoint::kError;
  route.status = status;
  route.error = std::move(message);
  return route;
}

// The first value of `key`, as Go's Request.FormValue; nullptr when absent.
const std::string* first_value(const std::vector<QueryArg>& args, std::string_view key) {
  for (const QueryArg& arg : args)
    if (arg.key == key) return &arg.value;
  return nullptr;
}

// Decimal as Go's strconv.ParseInt(s, 10, 64) reads it, limited to 1..kMaxSeconds.
bool parse_seconds(const std::string& text, int* seconds) {
  size_t i = text[0] == '+' ? 1 : 0;
  if (i == text.size()) return false;
  long value = 0;
  for (; i < text.size(); i++) {
    char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
    if (value > kMaxSeconds) return false;
  }
  if (value < 1) return false;
  *seconds = static_cast<int>(value);
  return true;
}

bool method_is_read(std::string_view method) { return method == "GET" || method == "HEAD"; }

}  // namespace

HttpRoute route_http_request(std::string_view method, std::string_view path,
                             const std::vector<QueryArg>& args) {
  if (path.substr(0, kPrefix.size()) != kPrefix) return error_route(404, "Unknown profile");
  std::string_view rest = path.substr(kPrefix.size());
  std::string_view name;
  if (!rest.empty()) {
    if (rest[0] != '/') return error_route(404, "Unknown profile");
    name = rest.substr(1);
  }

  HttpRoute route;
  if (name == "symbol") {
    if (!method_is_read(method) && method != "POST") {
      route = error_route(405, "method not allowed: use GET, HEAD or POST");
      route.allow = "GET, HEAD, POST";
      return route;
    }
    route.endpoint = HttpEndpoint::kSymbol;
    return route;
  }

  ProfileKind kind = ProfileKind::kHeap;
  const bool is_profile = profile_kind_by_url_name(name, &kind);
  if (name.empty() || name == "cmdline" || is_profile) {
    if (!method_is_read(method)) {
      route = error_route(405, "method not allowed: use GET or HEAD");
      route.allow = "GET, HEAD";
      return route;
    }
  }
  if (name.empty()) {
    route.endpoint = HttpEndpoint::kIndex;
    return route;
  }
  if (name == "cmdline") {
    route.endpoint = HttpEndpoint::kCmdline;
    return route;
  }
  if (name == "trace")
    return error_route(404,
                       "execution traces (/debug/pprof/trace) exist only for Go programs; "
                       "for a CPU profile use /debug/pprof/profile?seconds=N");
  if (!is_profile) return error_route(404, "Unknown profile");

  route.endpoint = HttpEndpoint::kProfile;
  route.kind = kind;
  route.name = std::string(name);

  // An empty value counts as absent, as with Go's FormValue.
  const std::string* debug = first_value(args, "debug");
  if (debug != nullptr && !debug->empty() && *debug != "0") {
    if (*debug != "1" && *debug != "2")
      return error_route(400, "invalid value for \"debug\" - must be 0, 1 or 2");
    route.text = true;
  }
  const std::string* seconds = first_value(args, "seconds");
  if (seconds != nullptr && !seconds->empty()) {
    if (!parse_seconds(*seconds, &route.seconds))
      return error_route(400, "invalid value for \"seconds\" - must be a positive integer");
    if (route.text && kind != ProfileKind::kCpu)
      return error_route(400, "seconds and debug params are incompatible");
  }
  return route;
}

std::vector<uint64_t> parse_symbol_request(std::string_view text, size_t max_count) {
  std::vector<uint64_t> addresses;
  size_t start = 0;
  while (start <= text.size() && addresses.size() < max_count) {
    size_t end = text.find('+', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view token = text.substr(start, end - start);
    start = end + 1;
    // Tolerate whitespace around a token (a trailing newline from curl -d @file).
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t' ||
                              token.front() == '\r' || token.front() == '\n'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t' ||
                              token.back() == '\r' || token.back() == '\n'))
      token.remove_suffix(1);
    if (token.empty()) continue;

    int base = 10;
    if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
      base = 16;
      token.remove_prefix(2);
    }
    uint64_t value = 0;
    bool valid = !token.empty() && token.size() <= (base == 16 ? 16u : 20u);
    for (size_t i = 0; valid && i < token.size(); i++) {
      char c = token[i];
      unsigned digit;
      if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
      else if (base == 16 && c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
      else if (base == 16 && c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
      else { valid = false; break; }
      if (base == 10 && value > (UINT64_MAX - digit) / 10) valid = false;  // overflow
      value = value * static_cast<uint64_t>(base) + digit;
    }
    if (valid && value != 0) addresses.push_back(value);
  }
  return addresses;
}

std::string format_symbol_answer(const std::vector<ResolvedSymbol>& symbols) {
  std::string answer = "num_symbols: 1\n";
  static const char kHex[] = "0123456789abcdef";
  for (const ResolvedSymbol& symbol : symbols) {
    if (symbol.name.empty()) continue;
    char digits[16];
    int n = 0;
    uint64_t value = symbol.address;
    do {
      digits[n++] = kHex[value & 0xf];
      value >>= 4;
    } while (value != 0);
    answer += "0x";
    while (n > 0) answer += digits[--n];
    answer += ' ';
    for (char c : symbol.name)
      answer += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    answer += '\n';
  }
  return answer;
}

}  // namespace ppagent
