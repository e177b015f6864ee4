// The agent's side of the live /debug/pprof endpoint: what it answers to a
// request the transport (libppagent-http.so, http_transport.h) has read —
// the index page, cmdline, symbol and the profiles — by the routes of
// http_request.h.
#pragma once

#include "live/http_transport.h"

namespace ppagent {

// ppagent_http_host::handle and ::release. Run on the transport's threads,
// which are the agent's.
void answer_http_request(const ppagent_http_request* request, ppagent_http_response* response);
void release_http_response(ppagent_http_response* response);

}  // namespace ppagent
