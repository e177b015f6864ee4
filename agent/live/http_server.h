// The live /debug/pprof endpoint (PPROF_HTTP): the transport library
// (libppagent-http.so, next to libppagent.so) loaded and started, answering
// with http_endpoint.h.
#pragma once

namespace ppagent {

struct Config;

// Starts the server when config.http_host is set: loads the transport library
// from the agent's own directory and starts it. On failure (library missing,
// address in use) one "ppagent:" line; the program runs on without it.
// Called once, from the agent's constructor, after the agent is active (so
// that the server's threads become agent threads) and before the program's
// main (the agent loads no library once the program runs).
bool start_http_server(const Config& config);

}  // namespace ppagent
