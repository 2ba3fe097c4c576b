/*
 * server.h — `cinder serve`: HTTP/1.1 (libmicrohttpd) and the event loop (libuv) around the engine and api/.
 *
 * Owns: the libuv loop, the libmicrohttpd daemon, one engine per served model (each created on a libuv worker
 * thread so /health can say "loading"), the api context, the queue that carries engine events to the loop,
 * per-request connection state, the startup memory check, and the log line of every request.
 * server/ is the only code that includes microhttpd.h and uv.h.
 * Does not: parse JSON or know OpenAI's shapes (api/), compute (engine/), read configuration (cli/cmd_serve.c
 * turns config_t into server_params_t), or download models (hub/, before server_run).
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
 *   - libuv worker threads load the models (engine_create, one work item per model, in parallel) at startup; the
 *     loop learns each result in the work's completion callback and attaches that model to the api, so a model
 *     serves as soon as it is loaded. Every model has its own engine thread; their events share the one queue.
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
 * Hostile clients (see README, "On a public address"). http.c answers from the headers alone what needs no body
 * (api_check_headers: 404, 405, 401, 413; strict framing: 400/501), before any body is read and with the
 * connection closed. guard.c keeps per-connection deadlines libmicrohttpd's idle timeout cannot give (request
 * head, body rate) and closes the oldest idle connection when a new one reaches max_connections. A stream whose
 * unsent output passes stream_buffer_bytes pauses its call (api_call_pause -> engine_pause) until the client
 * reads; a client stalled past the idle timeout is closed by libmicrohttpd, which cancels the call.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting (MHD_quiesce_daemon), /health says shutting_down, cancel every
 * running request (streams end with an SSE error event, waiting requests get 503), wait for their responses to
 * be written (at most `grace_ms`), resume anything still suspended, stop the daemon, free the engines, exit 0.
 * A second signal skips the wait.
 */
#ifndef CINDER_SERVER_H
#define CINDER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "engine.h"

/* One served model. */
typedef struct {
    const char *id;            /* the id clients send as `model` (an alias, or the file name without .gguf) */
    engine_params_t engine;    /* model_path (a local GGUF file), n_threads, n_ctx, n_parallel, max_queue, ... */
    const char *chat_template; /* Jinja source overriding the model's (NULL: the model's, else ChatML) */
    const char *source;        /* the model as configured (a path or a Hugging Face reference): requests may name
                                  it by this too (api_params_t.model_sources); NULL = by its id only */
} server_model_t;

typedef struct {
    /* models */
    const server_model_t *models; /* n_models (>= 1), distinct ids; borrowed for server_run */
    size_t n_models;
    bool memory_check; /* refuse to start when weights + KV pools exceed MemAvailable (server_memory_check) */
    /* HTTP */
    const char *host;            /* address to bind, e.g. "127.0.0.1", "0.0.0.0", "::" */
    int port;                    /* 0 = any free port (printed on stdout) */
    const char *const *api_keys; /* n_api_keys Bearer keys; none = no authentication */
    size_t n_api_keys;
    const char *metrics_api_key;       /* GET /metrics needs this Bearer key; NULL = open */
    bool reasoning_inline;             /* thinking stays in content (api_params_t.reasoning_inline) */
    const api_key_limit_t *key_limits; /* n_key_limits per-key quotas (rpm, tpm) of some api_keys */
    size_t n_key_limits;
    const char *const *cors_origins; /* n_cors_origins allowed origins ("*" = any); none = CORS off */
    size_t n_cors_origins;
    size_t max_body_bytes;           /* request bodies larger get 413 */
    size_t max_header_bytes;         /* per-connection memory for the request line and headers (431 past it) */
    unsigned max_connections;        /* open connections at once (more are refused at accept) */
    unsigned idle_timeout_s;         /* an idle (not generating) connection is closed after this */
    unsigned header_timeout_s;       /* a request head must be complete this long after the accept, or after its
                                        first byte on a kept-alive connection (0 = no deadline) */
    unsigned min_body_rate;          /* bytes/s a request body must average after a 5 s grace (0 = no minimum) */
    unsigned max_connections_per_ip; /* open connections from one address (0 = no limit) */
    size_t stream_buffer_bytes;      /* a stream's unsent output past this pauses its generation */
    unsigned grace_ms;               /* shutdown: how long in-flight responses may take to be written */
    bool quiet; /* no per-request log lines (common/log.h writes them; log_setup sets the format) */
    /* /v1/responses' store: an SQLite file (api_params_t.responses_store), NULL = none; its limits (0 = none) */
    const char *responses_store;
    int64_t responses_max_age_s;
    int64_t responses_max_bytes;
} server_params_t;

/*
 * Defaults: no models, memory check on, 127.0.0.1:8080, bodies up to 8 MiB, 32 KiB of headers, 256 connections
 * (64 per address), 30 s idle, request heads within 10 s, bodies at 1024 bytes/s or faster, 256 KiB of unsent
 * stream output, 3 s grace.
 */
server_params_t server_default_params(void);

/*
 * Runs the server until SIGINT or SIGTERM (installs handlers for both and ignores SIGPIPE). Checks memory (when
 * asked), binds and prints "listening on http://HOST:PORT" on stdout (flushed), then loads the models in the
 * background; /health answers 503 until all are loaded. Logs through common/log.h. Returns 0 after a clean
 * shutdown, or a negative ERR_* code with one line in err when the models do not fit in memory, the address
 * cannot be bound, a model cannot be loaded or its chat template does not compile.
 * Call it from the thread that owns the process's signals (the main thread); one server per process.
 */
int server_run(const server_params_t *p, char *err, size_t err_len);

/* What a model needs in memory, estimated before loading it (see server_memory_check). */
typedef struct {
    uint64_t weights_bytes; /* the GGUF file's size (weights are mapped; they need page cache to run well) */
    uint64_t kv_bytes;      /* the KV pool engine_create will allocate for these parameters */
    int64_t kv_tokens;      /* its size in tokens */
    int32_t n_ctx;          /* the context per sequence in effect */
} server_mem_t;

/*
 * Estimates one model's memory from its GGUF header with engine_plan_kv, the rule engine_create itself
 * allocates by (engine.h: kv_tokens, else kv_bytes' worth, else 256 MiB's worth clamped to between one and 16
 * contexts, in whole 16-token blocks). Reads the
 * model's metadata (model_load maps it; weights are not read). Returns 0 or model_load's error.
 */
int server_memory_estimate(const server_model_t *m, server_mem_t *out, char *err, size_t err_len);

/* MemAvailable of a /proc/meminfo text, in bytes. Returns 0, or ERR_NOTFOUND when the line is missing. */
int server_parse_meminfo(const char *text, uint64_t *available_bytes);

/*
 * Checks that the n models' weights and KV pools fit in MemAvailable (/proc/meminfo). Returns 0 (also when
 * /proc/meminfo is unreadable: then nothing is known, and a warning is logged), ERR_NOMEM with a line that lists
 * what each model needs, or an estimate's error. Logs each model's needs at debug level.
 */
int server_memory_check(const server_model_t *models, size_t n, char *err, size_t err_len);

#endif
