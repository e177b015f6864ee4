/* The boundary between the agent (libppagent.so) and the live endpoint's
 * HTTP transport (libppagent-http.so, the only part that links
 * libmicrohttpd). The agent dlopens the transport at start, only when
 * PPROF_HTTP is set, and calls its one exported function with a
 * `ppagent_http_host`: where to listen and how to answer. The transport knows
 * nothing of profiles; the agent knows nothing of HTTP connections.
 *
 * Plain C types only: the two libraries are built from one tree, but the
 * version check keeps a stray copy of the other one from being misread.
 * Both libraries hide everything else (-fvisibility=hidden), so nothing but
 * this struct passes between them. */
#ifndef PPAGENT_HTTP_TRANSPORT_H
#define PPAGENT_HTTP_TRANSPORT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever a struct below changes. */
#define PPAGENT_HTTP_VERSION 1u

/* The transport's file name, looked for next to libppagent.so. */
#define PPAGENT_HTTP_LIBRARY "libppagent-http.so"
/* Its one exported function, of type ppagent_http_start_fn. */
#define PPAGENT_HTTP_START "ppagent_http_start"

struct ppagent_http_arg {
  const char* key;
  const char* value; /* URL-decoded; "" for a key without '=' (never NULL) */
};

/* One complete request: headers and body are read before the agent sees it.
 * Everything it points to lives until the handler returns. */
struct ppagent_http_request {
  const char* method;    /* as sent (methods are case-sensitive) */
  const char* path;      /* URL-decoded, without the query */
  const char* raw_query; /* after '?', as sent (not decoded); "" if none */
  const struct ppagent_http_arg* args; /* the decoded query arguments */
  size_t arg_count;
  const char* body; /* a POST's body (at most the transport's limit) */
  size_t body_size;
  /* Nonzero once the client has closed its end: a handler that waits polls
   * it and gives up. Callable only during the handler, on its thread. */
  int (*client_gone)(const struct ppagent_http_request* request);
  void* transport; /* the transport's, for client_gone */
};

struct ppagent_http_header {
  const char* name;
  const char* value;
};

#define PPAGENT_HTTP_MAX_HEADERS 4

/* The answer, filled by the handler. The transport adds
 * "X-Content-Type-Options: nosniff" to every answer and "X-Go-Pprof: 1" to
 * every answer whose status is not 200 (go tool pprof then prints the body). */
struct ppagent_http_response {
  int status; /* 0: no answer, the connection is dropped (client gone, no memory) */
  const char* content_type;
  const char* body;
  size_t body_size;
  struct ppagent_http_header headers[PPAGENT_HTTP_MAX_HEADERS]; /* extra ones */
  unsigned header_count;
  void* owner; /* the host's: what release() frees */
};

/* Everything the transport gets from the agent. */
struct ppagent_http_host {
  unsigned version; /* PPAGENT_HTTP_VERSION */
  unsigned size;    /* sizeof(struct ppagent_http_host) */
  const char* address; /* numeric IPv4 ("127.0.0.1") or IPv6 ("::1") address */
  unsigned port;
  /* Answers one request, on the thread of its connection; fills *response,
   * whose memory stays the host's until release(response). */
  void (*handle)(const struct ppagent_http_request* request,
                 struct ppagent_http_response* response);
  void (*release)(struct ppagent_http_response* response);
  /* Prints one line on stderr, with the "ppagent: " prefix and a newline. */
  void (*log)(const char* message);
  /* For a thread that must end early (libmicrohttpd's panic): nonzero if the
   * calling thread is one of the agent's, which it then no longer is and may
   * pthread_exit; zero for any other thread. */
  int (*leave_agent_thread)(void);
};

enum ppagent_http_start_result {
  PPAGENT_HTTP_STARTED = 0,
  PPAGENT_HTTP_WRONG_VERSION = 1, /* the host struct is not this transport's */
  PPAGENT_HTTP_BAD_ADDRESS = 2,   /* not a numeric address */
  PPAGENT_HTTP_CANNOT_LISTEN = 3  /* address in use, not available here, no memory */
};

/* Starts serving on host->address:host->port, on threads the transport
 * creates from the calling thread (the agent calls it inside its scope, so
 * they become the agent's threads). The struct is copied. Returns a
 * ppagent_http_start_result; once one server runs, a further start answers
 * PPAGENT_HTTP_CANNOT_LISTEN. A forked child lets go of the listening socket
 * and does not serve. */
typedef int (*ppagent_http_start_fn)(const struct ppagent_http_host* host);

#ifdef __cplusplus
}
#endif

#endif /* PPAGENT_HTTP_TRANSPORT_H */
