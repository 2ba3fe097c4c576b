/*
 * api.h — the OpenAI surface: routes, authentication, request validation, prompts, and the response objects
 * and SSE chunks of /v1/chat/completions, /v1/completions (prompt scoring included), /v1/embeddings,
 * /v1/responses (with its stored responses) and
 * /v1/models, plus /health and /metrics.
 *
 * Owns: an api_ctx_t (the served models: their ids, compiled chat templates and backends; API keys; the list of
 * live calls; the counters and histograms /metrics reports) and one api_call_t per generating HTTP request (its
 * choices' text, stop matching, logprobs, usage). Requests name their model in `model`; each model has its own
 * backend (engine), so one context serves several models.
 * Does not: touch sockets, HTTP framing, threads or libuv. The HTTP side (server/) hands in a small request
 * struct and a response sink (h2o's handler/generator split); the engine is reached through a backend of two
 * function pointers, so the whole layer runs in unit tests with a fake backend and a string-collecting sink.
 *
 * Threading: everything here runs on ONE thread, the server's loop thread: api_handle, api_event (the server
 * moves each engine event from the engine thread to the loop thread and calls api_event there), api_call_release
 * and the ctx functions. Sink callbacks are invoked on that thread, from inside those calls. Nothing in api/ takes
 * a lock.
 *
 * Lifetimes. api_handle answers at once (sink->respond) or starts a call: it submits one engine request per
 * choice and returns the call in *call_out. The call then answers through the sink as engine events arrive:
 * non-streaming with one sink->respond when every choice has ended; streaming with sink->stream_open (inside
 * api_handle), stream_write per chunk and stream_close after "data: [DONE]". The HTTP side calls
 * api_call_release exactly once when its request is over (finished, or the client went away): from then on the
 * call never touches the sink, cancels what still runs, and frees itself once every engine request has delivered
 * its END event. So a call's memory is owned jointly by the HTTP side (until release) and the engine requests
 * (until their END), both on the loop thread.
 */
#ifndef CINDER_API_H
#define CINDER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct api_ctx api_ctx_t;
typedef struct api_call api_call_t;

/* A response header (both strings borrowed for the call). */
typedef struct {
    const char *name;
    const char *value;
} api_header_t;

/*
 * The response sink the HTTP side implements (embed it first in the connection state). Every body is JSON
 * (Content-Type: application/json) except streams (text/event-stream) and responses whose headers include a
 * Content-Type (/metrics: text/plain), which replaces the JSON one. Data passed in is borrowed for the call.
 */
typedef struct api_sink api_sink_t;
struct api_sink {
    /* One whole response: status, extra headers (e.g. Allow for 405), body. */
    void (*respond)(api_sink_t *s, int status, const api_header_t *hdrs, size_t n_hdrs, const char *body, size_t len);
    /* Starts a 200 text/event-stream response; stream_write then appends SSE bytes; stream_close ends it. */
    void (*stream_open)(api_sink_t *s);
    void (*stream_write)(api_sink_t *s, const char *data, size_t len);
    void (*stream_close)(api_sink_t *s);
    /* Optional (NULL = dropped): extra headers for the response that follows (respond or stream_open), such as
       the x-ratelimit-* ones; called before it. */
    void (*headers)(api_sink_t *s, const api_header_t *hdrs, size_t n_hdrs);
};

/* What the api needs from the HTTP request. All borrowed for the duration of api_handle. */
typedef struct {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* the URL path without the query string, e.g. "/v1/models" */
    const char *authorization; /* the Authorization header, or NULL */
    const char *query;         /* the query string without '?' ("limit=2&order=asc", values %-escaped), or NULL */
    const char *body;          /* need not be NUL-terminated */
    size_t body_len;
} api_request_t;

/*
 * The engine as the api sees it. submit: as engine_submit, except that on_event in the request is NULL: the
 * backend installs its own callback and must, on the loop thread, call api_event(r->user, event) for every event
 * of that request, in order. cancel: as engine_cancel. pause (optional): as engine_pause. stats (optional, NULL =
 * none): as engine_stats, for /health and /metrics.
 */
typedef struct {
    int (*submit)(void *self, const engine_req_t *r, uint64_t *id, char *err, size_t err_len);
    int (*cancel)(void *self, uint64_t id);
    int (*pause)(void *self, uint64_t id, bool paused); /* optional: as engine_pause (backpressure) */
    void (*stats)(void *self, engine_stats_t *out);
    void *self;
} api_backend_t;

/* Rate limits of one API key (0 = none); see api_params_t.key_limits. */
typedef struct {
    const char *key; /* one of api_keys */
    int64_t rpm;     /* requests per minute */
    int64_t tpm;     /* tokens per minute (prompt + max_tokens per choice, taken when a request starts) */
} api_key_limit_t;

typedef struct {
    const char *model_id;         /* one model: the id clients send and /v1/models lists (copied) */
    const char *const *model_ids; /* several models: n_models distinct ids (copied); used when n_models > 0 */
    size_t n_models;
    /* Optional, one per model (NULL entries allowed): another name requests may use for the model, such as the
       path or Hugging Face reference it was configured with (copied). Ids take precedence; a name that two
       models share, or that is another model's id, names neither. Responses and /v1/models show the id. */
    const char *const *model_sources;
    int64_t created;             /* unix seconds shown for the model in /v1/models */
    const char *owned_by;        /* NULL = "cinder" */
    const char *const *api_keys; /* n_api_keys accepted Bearer keys (copied); none = no authentication */
    size_t n_api_keys;
    const char *system_fingerprint; /* NULL = derived from the model id */
    uint64_t seed;                  /* seeds response ids and default sampling seeds; 0 = from the clock */
    int64_t fixed_created;          /* tests: every response's `created`; 0 = the clock */
    int32_t max_n;                  /* most choices per request (n x prompts); 0 = 128 */
    uint64_t max_body_bytes;        /* a declared body larger gets 413 from api_check_headers; 0 = no limit */
    const char *metrics_api_key;    /* when set, GET /metrics needs "Authorization: Bearer" this key (copied) */
    bool reasoning_inline;          /* reasoning models' thinking stays in content (default: reasoning_content) */
    /* Per-key quotas (quota.c): generation requests with a key listed here are limited to rpm requests and tpm
       tokens a minute, answered with OpenAI's x-ratelimit-* headers, and 429 rate_limit_exceeded (with
       Retry-After) past them. Keys are matched to api_keys by value; others are unlimited. */
    const api_key_limit_t *key_limits;
    size_t n_key_limits;
    /* /v1/responses' store (resp_store.h): an SQLite file, created when missing (its directory must exist);
       NULL or "" = none, and `store: true` is refused. Rows older than max_age_s (0 = no limit) and the oldest
       past max_bytes of JSON (0 = no limit) are pruned. */
    const char *responses_store;
    int64_t responses_max_age_s;
    int64_t responses_max_bytes;
} api_params_t;

/*
 * Creates the context for the models named in p (model_ids, or the one model_id), opening the responses store
 * when one is named. Returns 0 and *out; ERR_INVAL (no model id, an empty or repeated one), ERR_IO (the store
 * cannot be opened: err says why), ERR_NOMEM. Free with api_free.
 */
int api_create(const api_params_t *p, api_ctx_t **out, char *err, size_t err_len);

/*
 * Frees the context. Calls still live (not yet released, or waiting for END events) are detached: their later
 * api_event / api_call_release calls stay valid and free them. api_free(NULL) is a no-op.
 */
void api_free(api_ctx_t *c);

typedef struct {
    size_t index;              /* which model of api_params_t this is (0 for the first, or the only one) */
    double load_ms;            /* how long loading it took, reported by /metrics (0 = unknown) */
    const tok_t *tok;          /* borrowed; must outlive every call */
    int32_t n_ctx;             /* tokens per sequence */
    const char *chat_template; /* Jinja source (copied); NULL = ChatML (see api_chatml_template) */
    bool strict_template;      /* a template that does not compile fails api_attach (a --chat-template file);
                                  otherwise (the model's own) chat requests answer 400 with the compile error */
    bool embedding;            /* an embedding model (pooled vectors): served on /v1/embeddings only; chat and
                                  completions requests for it answer 400, and embeddings requests for the others */
    int32_t n_embd;            /* its vectors' width (the `dimensions` limit); read when embedding is set */
    api_backend_t backend;
} api_model_t;

/*
 * Makes model m->index available. Until every model is attached /health answers 503 {"status":"loading",...};
 * until at least one is, generation routes answer 503; a request for a model not yet attached gets 503 too.
 * Compiles the chat template: with strict_template, returns ERR_TEMPLATE (ERR_RANGE for an oversized source)
 * with the template's message in err when it does not compile; without, returns 0 with that message in err as a
 * warning (err is "" otherwise). ERR_NOMEM, ERR_INVAL (bad index, already attached, incomplete description).
 */
int api_attach(api_ctx_t *c, const api_model_t *m, char *err, size_t err_len);

/* The ChatML template used when a model has none (static storage). */
const char *api_chatml_template(void);

/*
 * Shutting down: /health answers 503 {"status":"shutting_down"}, new generation requests 503, and every live
 * call is cancelled (its engine requests end with ENGINE_FINISH_CANCELLED; streams then end with an SSE error
 * event, non-streaming requests with a 503).
 */
void api_shutdown(api_ctx_t *c);

/* Calls not yet freed (started and still waiting for END events or for api_call_release). */
size_t api_live_calls(const api_ctx_t *c);

/*
 * Decides what can be decided from a request's method, path and Authorization header alone, before its body is
 * read: an unknown route (404), a wrong method (405 with Allow), a missing or wrong API key (401) and a declared
 * body over max_body_bytes (413, content_length < 0 = not declared). Returns true when it answered through
 * sink->respond (the HTTP side then sends that answer without reading the body, and closes the connection when a
 * body was announced), false when the request may go on to api_handle once its body is in. req->body is ignored.
 */
bool api_check_headers(api_ctx_t *c, const api_request_t *req, int64_t content_length, api_sink_t *sink);

/*
 * Handles one HTTP request. Either answers at once through sink->respond (and returns 0 with *call_out NULL), or
 * starts generation and returns 0 with *call_out set (see Lifetimes above). Never fails: every problem becomes an
 * OpenAI error response.
 */
int api_handle(api_ctx_t *c, const api_request_t *req, api_sink_t *sink, api_call_t **call_out);

/* Delivers one engine event of the request whose `user` pointer was `user` (loop thread). */
void api_event(void *user, const engine_event_t *ev);

/*
 * Backpressure: the HTTP side pauses a streaming call whose client stopped reading (its unsent output passed a
 * bound) and resumes it once the client has read; every choice still generating is paused or resumed through
 * the backend's pause (a no-op without one). The engine keeps the choices' places, so output is unchanged.
 */
void api_call_pause(api_call_t *call, bool paused);

/* The HTTP side is done with the call (see Lifetimes). */
void api_call_release(api_call_t *call);

/* What a call did so far, for the request's log line. */
typedef struct {
    const char *model;         /* the model's id (borrowed from the call: copy it before api_call_release) */
    int32_t prompt_tokens;     /* usage.prompt_tokens */
    int32_t completion_tokens; /* usage.completion_tokens so far */
    double ttft_ms;            /* from api_handle to the first token of any choice; -1 when none came */
} api_call_info_t;

/* Fills *out for a live (not yet released) call. */
void api_call_info(const api_call_t *call, api_call_info_t *out);

/*
 * Counts one answered HTTP request for /metrics (cinder_http_requests_total and its duration histogram): the
 * path picks the endpoint label (a known route, or "other"), status is the response's (499 when the client left
 * before any response). The HTTP side calls it once per request, whoever answered it.
 */
void api_observe_http(api_ctx_t *c, const char *path, int status, double duration_ms);

/*
 * Writes an OpenAI error response through sink->respond: for errors the HTTP side finds itself (413 body too
 * large, 503 while loading). `code` and `param` may be NULL.
 */
void api_respond_error(api_sink_t *sink, int status, const char *type, const char *code, const char *param,
                       const char *message);

#endif
