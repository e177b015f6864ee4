#include "live/http_endpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "base/agent_scope.h"
#include "live/http_request.h"
#include "live/live_profiles.h"
#include "symbols/symbolizer.h"

namespace ppagent {

namespace {

// Profiles built at the same moment (each loads debug info and copies the
// samples); further requests wait for a turn. Windows (seconds=N) do not
// take a turn while they wait, only Y1's code decides how they build.
constexpr int kConcurrentBuilds = 4;

constexpr char kTextType[] = "text/plain; charset=utf-8";
constexpr char kBinaryType[] = "application/octet-stream";

// What the transport sends back; owned by ppagent_http_response::owner.
struct Answer {
  int status = 0;  // 0: no answer (the client left)
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

Answer text_answer(int status, std::string body, const char* content_type = kTextType) {
  Answer answer;
  answer.status = status;
  answer.content_type = content_type;
  answer.body = std::move(body);
  return answer;
}

// Error answers end with a newline, as Go's http.Error writes them.
Answer error_answer(int status, const std::string& message, const std::string& allow = {}) {
  Answer answer = text_answer(status, message + "\n");
  if (!allow.empty()) answer.headers.emplace_back("Allow", allow);
  return answer;
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

// Made on first use and never destroyed: the transport's threads may still
// wait on it while the process exits.
BuildTurns& build_turns() {
  static BuildTurns* turns = new BuildTurns;
  return *turns;
}

Answer serve_profile(const ppagent_http_request& http, const HttpRoute& route) {
  LiveRequest request;
  request.kind = route.kind;
  request.seconds = route.seconds;
  request.text = route.text;
  request.cancelled = [&http] { return http.client_gone(&http) != 0; };
  const bool immediate = route.seconds == 0 && route.kind != ProfileKind::kCpu;
  if (immediate && !build_turns().take(request.cancelled)) return Answer();
  LiveResult result = produce_live_profile(request);
  if (immediate) build_turns().give_back();
  if (request.cancelled()) return Answer();  // nobody to answer
  if (result.status != 200) return error_answer(result.status, result.body);
  const bool binary = result.content_type.empty() || result.content_type == kBinaryType;
  if (!binary) return text_answer(result.status, std::move(result.body), result.content_type.c_str());
  Answer answer = text_answer(result.status, std::move(result.body), kBinaryType);
  answer.headers.emplace_back("Content-Disposition",
                              "attachment; filename=\"" + route.name + "\"");
  return answer;
}

Answer serve_cmdline() {
  std::string args;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) args.append(buf, static_cast<size_t>(n));
    close(fd);
  }
  if (!args.empty() && args.back() == '\0') args.pop_back();
  return text_answer(200, std::move(args));
}

Answer serve_symbol(const ppagent_http_request& http, bool post) {
  std::vector<uint64_t> addresses = parse_symbol_request(
      post ? std::string_view(http.body, http.body_size) : std::string_view(http.raw_query));
  std::vector<ResolvedSymbol> symbols;
  if (!addresses.empty()) {
    std::vector<std::vector<SourceFrame>> frames = Symbolizer::shared()->frames(
        std::vector<uintptr_t>(addresses.begin(), addresses.end()));
    for (size_t i = 0; i < addresses.size(); i++) {
      // The innermost frame's linker name: pprof demangles it itself.
      if (!frames[i].empty()) symbols.push_back({addresses[i], frames[i].front().system_name});
    }
  }
  return text_answer(200, format_symbol_answer(symbols));
}

// A row of the index page: a profile kind, or cmdline (kind null), which is
// not one and is always on.
struct IndexEntry {
  const char* name;
  const char* description;
  const ProfileKindInfo* kind;
};

// The profile kinds in their table's order, with cmdline second, where the
// page has always listed it.
std::vector<IndexEntry> index_entries() {
  std::vector<IndexEntry> entries;
  for (size_t i = 0; i < kProfileKindCount; i++) {
    const ProfileKindInfo& info = kProfileKinds[i];
    entries.push_back({info.url_name, info.description, &info});
    if (i == 0)
      entries.push_back({"cmdline", "The command line invocation of the current program", nullptr});
  }
  return entries;
}

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

Answer serve_index() {
  std::string page =
      "<html>\n<head>\n<title>/debug/pprof/</title>\n"
      "<style>\n.profile-name{\n\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n"
      "</head>\n<body>\n/debug/pprof/\n<br>\n"
      "<p>Set debug=1 as a query parameter to export in legacy text format</p>\n<br>\n"
      "Types of profiles available:\n<table>\n<thead><td>State</td><td>Profile</td></thead>\n";
  const std::vector<IndexEntry> entries = index_entries();
  for (const IndexEntry& entry : entries) {
    std::string how_to_enable;
    bool enabled = entry.kind == nullptr || live_kind_enabled(entry.kind->kind, &how_to_enable);
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
  for (const IndexEntry& entry : entries) {
    page += "<li><div class=profile-name>";
    page += entry.name;
    page += ": </div> ";
    page += entry.description;
    page += "</li>\n";
  }
  page += "</ul>\n</p>\n</body>\n</html>\n";
  return text_answer(200, std::move(page), "text/html; charset=utf-8");
}

Answer answer_of(const ppagent_http_request& http) {
  std::vector<QueryArg> args;
  args.reserve(http.arg_count);
  for (size_t i = 0; i < http.arg_count; i++) args.push_back({http.args[i].key, http.args[i].value});
  HttpRoute route = route_http_request(http.method, http.path, args);
  switch (route.endpoint) {
    case HttpEndpoint::kIndex: return serve_index();
    case HttpEndpoint::kCmdline: return serve_cmdline();
    case HttpEndpoint::kSymbol: return serve_symbol(http, strcmp(http.method, "POST") == 0);
    case HttpEndpoint::kProfile: return serve_profile(http, route);
    case HttpEndpoint::kError: break;
  }
  return error_answer(route.status, route.error, route.allow);
}

}  // namespace

void answer_http_request(const ppagent_http_request* request, ppagent_http_response* response) {
  AgentScope scope;
  memset(response, 0, sizeof *response);
  Answer* answer = new (std::nothrow) Answer;
  if (answer == nullptr) return;  // status 0: the connection is dropped
  try {
    *answer = answer_of(*request);
  } catch (const std::exception&) {  // no memory: nothing may unwind into the C transport
    *answer = Answer();
  }
  response->owner = answer;
  response->status = answer->status;
  response->content_type = answer->content_type.c_str();
  response->body = answer->body.data();
  response->body_size = answer->body.size();
  for (const auto& [name, value] : answer->headers) {
    if (response->header_count == PPAGENT_HTTP_MAX_HEADERS) break;
    response->headers[response->header_count++] = {name.c_str(), value.c_str()};
  }
}

void release_http_response(ppagent_http_response* response) {
  AgentScope scope;
  delete static_cast<Answer*>(response->owner);
  response->owner = nullptr;
}

}  // namespace ppagent
