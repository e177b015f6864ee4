// The live /debug/pprof endpoint (PPROF_HTTP): libmicrohttpd serving the
// routes of http_request.h, one agent thread per connection.
#pragma once

namespace ppagent {

struct Config;

// Starts the server when config.http_address is set. On failure (address in
// use, no memory) one "ppagent:" line; the program runs on without it.
// Called once, from the agent's constructor, after the agent is active (so
// that the server's threads become agent threads).
bool start_http_server(const Config& config);

}  // namespace ppagent
