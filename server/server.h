/*
 * server.h — `cinder serve`: HTTP/1.1 (libmicrohttpd) and the event loop (libuv) around the engine and api/.
 *
 * Owns: the libuv loop, the libmicrohttpd daemon, the engine (created on a worker thread so /health can say
 * "loading"), the api context, the queue that carries engine events to the loop, and per-request connection
 * state. server/ is the only code that includes microhttpd.h and uv.h.
 * Does not: parse JSON or know OpenAI's shapes (api/), or compute (engine/).
 *
 * Threading model (three kinds of threads, one of which touches HTTP and api state):
 *   - The LOOP thread (the caller of server_run) runs uv_run. libmicrohttpd runs in "external polling" mode
 *     inside that loop: its epoll fd is watched by a uv_poll_t and MHD_run is called when it is readable, when
 *     the timer MHD_get_timeout asks for fires, and after the loop resumed connections. So every MHD callback
 *     (access handler, content reader, request-completed), every api/ call and every sink callback run on the
 *     loop thread, and connection and call state needs no locks.
 *   - The ENGINE thread (engine.h) computes. Its per-request callback never blocks: it copies the event into a
 *     heap message, appends it to a mutex-protected queue and calls uv_async_send. The loop drains the whole
 *     queue per wakeup (sends coalesce) and hands each event to api_event, whose sink calls append bytes to the
 *     connection and resume it. The END message of every request is allocated at submit time, so an engine
 *     thread that runs out of memory still delivers the end of the request.
 *   - One libuv worker thread loads the model (engine_create) at startup; the loop learns the result in the
 *     work's completion callback.
 * Why external polling rather than MHD_USE_EPOLL_INTERNAL_THREAD: with an internal HTTP thread, api state would
 * be touched by the HTTP thread (requests, disconnects) and by the loop thread (engine events), and every call
 * would need reference counting across threads plus locks around each connection's buffers. With both on one
 * thread the only cross-thread structure is the event queue. HTTP work per request is small (JSON parsing and
 * tokenization of one body) next to generation, so one thread for it is enough.
 *
 * Streaming uses MHD_create_response_from_callback with suspend/resume: the content reader copies pending SSE
 * bytes, or suspends the connection when there are none; the sink resumes it when bytes arrive. Non-streaming
 * generation suspends the connection in the access handler and queues the whole response when it is resumed.
 * While a connection is suspended libmicrohttpd does not watch its socket, so the loop watches it
 * (uv_poll_t, UV_DISCONNECT): a client that goes away cancels its generation at once. Any other end of a request
 * (libmicrohttpd's request-completed callback with any termination code) releases the api call, which cancels
 * whatever still runs.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting (MHD_quiesce_daemon), /health says shutting_down, cancel every
 * running request (streams end with an SSE error event, waiting requests get 503), wait for their responses to
 * be written (at most `grace_ms`), resume anything still suspended, stop the daemon, free the engine, exit 0.
 * A second signal skips the wait.
 */
#ifndef CINDER_SERVER_H
#define CINDER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct {
    /* engine */
    engine_params_t engine;    /* model_path, n_threads, n_ctx, n_parallel, max_queue */
    const char *model_id;      /* the id clients use (alias or file name without .gguf) */
    const char *chat_template; /* Jinja source overriding the model's (NULL: the model's, else ChatML) */
    /* HTTP */
    const char *host;            /* address to bind, e.g. "127.0.0.1", "0.0.0.0", "::" */
    int port;                    /* 0 = any free port (printed on stdout) */
    const char *const *api_keys; /* n_api_keys Bearer keys; none = no authentication */
    size_t n_api_keys;
    const char *const *cors_origins; /* n_cors_origins allowed origins ("*" = any); none = CORS off */
    size_t n_cors_origins;
    size_t max_body_bytes;    /* request bodies larger get 413 */
    size_t max_header_bytes;  /* per-connection memory for the request line and headers (431 past it) */
    unsigned max_connections; /* open connections at once (more are refused at accept) */
    unsigned idle_timeout_s;  /* an idle (not generating) connection is closed after this */
    unsigned grace_ms;        /* shutdown: how long in-flight responses may take to be written */
    bool quiet;               /* no per-request log lines */
} server_params_t;

/* Defaults: 127.0.0.1:8080, bodies up to 8 MiB, 32 KiB of headers, 256 connections, 30 s idle, 3 s grace. */
server_params_t server_default_params(void);

/*
 * Runs the server until SIGINT or SIGTERM (installs handlers for both and ignores SIGPIPE). Binds first and
 * prints "listening on http://HOST:PORT" on stdout (flushed), then loads the model in the background; /health
 * answers 503 until it is loaded. Returns 0 after a clean shutdown, or a negative ERR_* code with one line in err
 * when the address cannot be bound, the model cannot be loaded or its chat template does not compile.
 * Call it from the thread that owns the process's signals (the main thread); one server per process.
 */
int server_run(const server_params_t *p, char *err, size_t err_len);

#endif
