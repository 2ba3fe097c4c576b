/*
 * api_int.h — the structures shared by the files of api/ (internal; nothing outside api/ includes it, except
 * the unit tests, which inspect parsed requests).
 *
 *   api.c     the context and its models, routing, authentication, /health and /v1/models
 *   params.c  the request body -> api_spec_t (every field's type, range and support; which model)
 *   prompt.c  api_spec_t -> prompt token ids (chat template rendering, tokenization)
 *   call.c    a generating call (or an embeddings one): submission, engine events, stop strings, completion
 *   embeddings.c  /v1/embeddings: its fields, inputs, and response (float or base64, dimensions)
 *   render.c  response bodies and SSE chunks
 *   metrics.c counters and histograms, and GET /metrics in Prometheus' text format
 *   responses.c    /v1/responses: the request -> api_spec_t (input items -> chat messages), GET/DELETE of stored
 *                  responses and their input items
 *   resp_render.c  the response object and the semantic SSE events of /v1/responses; storing at completion
 *   resp_store.c   stored responses in SQLite (resp_store.h)
 *
 * Everything runs on the loop thread (see api.h).
 */
#ifndef CINDER_API_INT_H
#define CINDER_API_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "apierr.h"
#include "jw.h"
#include "stop.h"
#include "toolfmt.h"

typedef enum { API_CHAT = 1, API_TEXT = 2, API_EMBED = 3, API_RESP = 4 /* /v1/responses */ } api_kind_t;

#define API_MAX_EMBED_INPUTS 2048 /* /v1/embeddings: OpenAI's limit on inputs per request */

/* tool_choice after validation (tools.c). */
typedef enum { API_TC_NONE = 0, API_TC_AUTO, API_TC_REQUIRED } api_tool_choice_t;

#define API_MAX_STOP_BYTES    256 /* longest stop string accepted */
#define API_MAX_TEXT_LOGPROBS 5   /* legacy completions: OpenAI's limit on `logprobs` */

typedef struct tmpl tmpl_t; /* api/template/tmpl.h */

/* ---- metrics (metrics.c) ---- */

#define API_MX_MAX_BUCKETS 24 /* upper bounds per histogram, +Inf excluded */
#define API_MX_MAX_HTTP    96 /* distinct (endpoint, status) pairs counted; later new pairs are dropped */

/* A Prometheus histogram: counts per bucket (not cumulative; rendering accumulates), with their sum. */
typedef struct {
    uint64_t count;
    double sum;                              /* seconds */
    uint64_t bucket[API_MX_MAX_BUCKETS + 1]; /* the last one is +Inf */
} api_hist_t;

/* The endpoints /metrics tells apart (the `endpoint` label); everything else is API_EP_OTHER. */
typedef enum {
    API_EP_HEALTH,
    API_EP_METRICS,
    API_EP_MODELS,
    API_EP_MODEL,
    API_EP_CHAT,
    API_EP_COMPLETIONS,
    API_EP_EMBEDDINGS,
    API_EP_RESPONSES, /* /v1/responses and everything under it */
    API_EP_ROOT,
    API_EP_OTHER,
    API_EP_COUNT
} api_endpoint_t;

/* Finish reasons of generations (one per choice), for cinder_generations_total. */
typedef enum { API_FIN_STOP, API_FIN_LENGTH, API_FIN_CANCELLED, API_FIN_ERROR, API_FIN_COUNT } api_fin_t;

typedef struct {
    uint64_t prompt_tokens; /* of generations that ended */
    uint64_t gen_tokens;    /* tokens generated (counted for usage) */
    uint64_t finished[API_FIN_COUNT];
    api_hist_t ttft; /* request start -> a choice's first token */
    api_hist_t tpot; /* (last token - first token) / (tokens - 1), per choice with >= 2 tokens */
} api_model_mx_t;

typedef struct {
    uint8_t endpoint; /* api_endpoint_t */
    uint16_t status;
    uint64_t n;
} api_http_count_t;

/* ---- per-key quotas (quota.c) ---- */

/* One key's limits and its two token buckets. */
typedef struct {
    int64_t rpm, tpm; /* requests / tokens per minute; 0 = no limit */
    double req_left;  /* requests that may start now (<= rpm) */
    double tok_left;  /* tokens that may be taken now (<= tpm) */
    uint64_t t_ns;    /* last refill (monotonic) */
} api_quota_t;

#define API_QUOTA_MAX_HDRS 6

/* The x-ratelimit-* headers of one response (values stored here). */
typedef struct {
    api_header_t h[API_QUOTA_MAX_HDRS];
    char val[API_QUOTA_MAX_HDRS][32];
    size_t n;
} api_quota_hdrs_t;

/* Whether key index `key` (of api_ctx_t.keys; -1 = none) has a limit. */
bool api__quota_limited(const api_ctx_t *c, int key);
/* Takes one request and `tokens` tokens from key's buckets: 0, or ERR_LIMIT with e set to the 429 and *retry_s.
   The x-ratelimit-* headers go to h either way. */
int api__quota_take(api_ctx_t *c, int key, int64_t tokens, api_quota_hdrs_t *h, api_err_t *e, int *retry_s);
/* Gives back tokens a call reserved and did not use. */
void api__quota_refund(api_ctx_t *c, int key, int64_t tokens);

/* ---- the context ---- */

/* A cached compiled grammar (gram_cache.c). */
#define API_GCACHE_MAX 8
typedef struct {
    char *key;              /* what it was compiled from; NULL = empty */
    gram_t *g;              /* one reference */
    api_tf_triggers_t trig; /* tool-call grammars: their trigger texts */
    uint64_t used;          /* gcache_clock at the last use */
} api_gcache_entry_t;

/* One served model: its id, what api_attach handed in, its compiled template, and its counters. */
typedef struct {
    char *id;
    char *source; /* the other name requests may use (api_params_t.model_sources), or NULL */
    char *fingerprint;
    bool attached;
    const tok_t *tok;
    int32_t n_ctx;
    bool embedding; /* an embedding model: /v1/embeddings only */
    int32_t n_embd; /* its vectors' width */
    api_backend_t backend;
    tmpl_t *tmpl;                  /* NULL when the template did not compile */
    char *tmpl_err;                /* its compile error, for chat requests' 400 */
    char *bos_text, *eos_text;     /* the template's bos_token / eos_token ("" when none) */
    double load_ms;                /* from api_attach, for /metrics */
    api_tf_t tf;                   /* the template's tool-call and reasoning format (toolfmt.h) */
    bool tmpl_has_effort;          /* the template reads `reasoning_effort` (gpt-oss) */
    bool tmpl_has_thinking_switch; /* the template reads `enable_thinking` (Qwen3) */
    api_model_mx_t mx;
    api_gcache_entry_t gcache[API_GCACHE_MAX]; /* compiled grammars by source (gram_cache.c) */
    uint64_t gcache_clock;
} api_slot_t;

struct api_ctx {
    api_slot_t *models; /* n_models, in the order given to api_create */
    size_t n_models;
    size_t n_attached;
    char *owned_by;
    char **keys;
    size_t n_keys;
    char *metrics_key;       /* NULL = /metrics is open */
    api_quota_t *quotas;     /* (n_keys,) per-key limits and buckets */
    uint64_t max_body_bytes; /* 0 = no limit checked here */
    int64_t created;
    int64_t fixed_created;
    int32_t max_n;
    uint64_t rng; /* xorshift64* state for ids and default seeds */

    bool shutting_down;
    bool reasoning_inline; /* api_params_t.reasoning_inline: thinking stays in content */

    api_http_count_t http[API_MX_MAX_HTTP]; /* requests answered, by endpoint and status */
    size_t n_http;
    api_hist_t http_s[API_EP_COUNT]; /* their durations */

    api_call_t *live; /* calls not yet freed, doubly linked */
    size_t n_live;

    struct resp_store *store; /* /v1/responses' stored responses; NULL = none (store: true refused) */
    uint64_t resp_stored;     /* responses stored, for /metrics */
    uint64_t resp_pruned;     /* stored responses pruned by age or size */
};

/* ---- /v1/responses (responses.c, resp_render.c) ---- */

/* What a /v1/responses call needs beyond a chat call. Owned by the spec, then by the call. */
typedef struct {
    char msg_id[48];     /* the output message item's id */
    char *key;           /* the API key the request used (malloc'd), NULL = an open server: stored rows' owner */
    cJSON *echo;         /* the request's settings as the response object echoes them (instructions, tools, ...) */
    cJSON *input_items;  /* the request's input items, normalised and with ids, for .../input_items */
    cJSON *conversation; /* previous_response_id's conversation + this input as chat messages (no instructions) */
    cJSON *kwargs;       /* template variables (reasoning_effort), or NULL; spec->tmpl_kwargs points here */
    bool store;          /* store: true */
    bool trunc_auto;     /* truncation: auto (drop the oldest messages to fit) */
    int64_t seq;         /* the next event's sequence_number */
    /* output items in the order they were opened (resp_render.c): RESP_ITEM_REASONING, RESP_ITEM_MESSAGE, or a
       call's index (>= 0) */
    int32_t *items;
    size_t n_items, cap_items;
    char rs_id[48]; /* the reasoning item's id */
    bool rs_open, rs_closed, msg_open;
    bool logprobs;  /* include: message.output_text.logprobs (spec.logprobs and top_logprobs follow) */
    size_t lp_sent; /* the generation's logprob entries settled by the message's streamed deltas */
} api_resp_t;

#define RESP_ITEM_REASONING (-1)
#define RESP_ITEM_MESSAGE   (-2)

/* One prompt as token ids (malloc'd), and for echo its text. */
typedef struct {
    int32_t *ids;
    size_t n;
    char *text; /* legacy completions with echo: the prompt's text (malloc'd), else NULL */
    size_t text_len;
} api_prompt_t;

/* A parsed request: everything api_handle needs to start a call. Owns the arrays it points to. */
typedef struct {
    api_kind_t kind;
    const char *model;   /* borrowed from the JSON tree */
    api_slot_t *slot;    /* the model it names (set once `model` is valid) */
    uint64_t t0_ns;      /* when api_handle began (monotonic), for time to first token */
    sampler_params_t sp; /* logit_bias points at `bias` */
    bool seed_given;
    sampler_bias_t *bias;  /* n entries, malloc'd */
    int64_t max_tokens;    /* 0 = not given */
    const char *max_param; /* "max_tokens" or "max_completion_tokens" (for errors) */
    int32_t n;             /* choices per prompt */
    bool stream, include_usage;
    bool logprobs;        /* chat: logprobs true; text: logprobs given */
    int32_t top_logprobs; /* alternatives per token */
    bool echo;            /* legacy completions */
    bool score_only;      /* legacy: max_tokens 0 (with echo): the prompt is scored, nothing generated */
    api_stop_t stop;
    cJSON *messages;          /* chat: the validated messages, normalised for the template (owned) */
    const cJSON *tmpl_kwargs; /* chat: chat_template_kwargs, more template variables (borrowed from the tree) */
    const cJSON *prompt;      /* legacy: the validated `prompt` (borrowed from the tree, valid during api_handle) */
    api_prompt_t *prompts;    /* filled by prompt.c */
    size_t n_prompts;
    gram_t *grammar;                /* response_format's or the tool calls' grammar (owned; each engine request takes a
                                       reference), or NULL */
    char *format_json;              /* response_format's schema text ("{}" for json_object; owned), or NULL */
    gram_schema_opts_t format_opts; /* the options it compiles with */
    /* tools.c */
    api_tf_tool_t *tools; /* n_tools function tools a call may use (after tool_choice narrowed them; borrowing
                             from tools_json) */
    size_t n_tools;
    cJSON *tools_json;     /* every tool in OpenAI's shape, for the template's `tools` (owned), or NULL */
    bool legacy_functions; /* given as functions/function_call: answered as message.function_call */
    api_tool_choice_t tool_choice;
    bool parallel_tools;
    cJSON *tmpl_vars;    /* more template variables set by the server (reasoning_effort; owned), or NULL */
    const char *prefill; /* forced calls: the opener appended after the generation prompt (static), or NULL */
    gram_lazy_t lazy;    /* tool_choice auto: the grammar's triggers (pointing into trig_*) */
    const char *trig_texts[API_TF_MAX_TRIGGERS];
    int32_t trig_tokens[API_TF_MAX_TRIGGERS];
    bool parse_output;  /* split the output into reasoning, content and calls (toolfmt.h) */
    char *prompt_tail;  /* chat: the end of the rendered prompt, for the parser (malloc'd) */
    bool base64;        /* embeddings: encoding_format "base64" (little-endian float32) */
    int32_t dimensions; /* embeddings: the width asked for (0 = the model's) */
    api_resp_t *resp;   /* API_RESP: what the response object needs (owned) */
} api_spec_t;

/* params.c: validates root against the endpoint's fields and fills spec (zeroed first). 0 or an error in e. */
int api__parse_request(api_ctx_t *c, api_kind_t kind, const cJSON *root, api_spec_t *spec, api_err_t *e);
void api__spec_free(api_spec_t *spec);

/* tools.c: tools, tool_choice, parallel_tool_calls, functions, function_call and reasoning_effort -> spec (after
   response_format, with the model known). 0 or a 400 in e naming the field. */
int api__tools(const api_ctx_t *c, const cJSON *root, api_spec_t *s, api_err_t *e);
/* tools.c: rewrites the normalised messages for the model's tool format before rendering (call arguments as JSON
   values, Mistral's ids; for templates without tools, calls and results as text and the tools described in the
   system message). 0 or a 400 naming the message. */
int api__tool_messages(api_spec_t *s, api_err_t *e);

/* gram_cache.c: a model's compiled grammar for key (a new reference, and its triggers when trig != NULL), or
   NULL; put keeps a reference to g under key (evicting the least recently used); clear drops them all. */
gram_t *api__gcache_get(api_slot_t *m, const char *key, api_tf_triggers_t *trig);
void api__gcache_put(api_slot_t *m, const char *key, gram_t *g, const api_tf_triggers_t *trig);
void api__gcache_clear(api_slot_t *m);

/* structured.c: response_format -> spec->grammar (NULL for text). 0 or a 400 in e naming the field. */
int api__response_format(const cJSON *root, api_spec_t *spec, api_err_t *e);
/* structured.c: one format object {type, ...} named `param` -> spec->grammar. flat: the json_schema fields (name,
   schema, strict, description) sit in the object itself (/v1/responses' text.format), else in its
   "json_schema" member (chat's response_format). */
int api__format_grammar(const cJSON *fmt, const char *param, bool flat, api_spec_t *spec, api_err_t *e);

/* prompt.c: fills spec->prompts (chat: renders the template; text: tokenizes or checks ids; embeddings: see
   api__embed_prompts). 0 or e. */
int api__build_prompts(api_ctx_t *c, api_spec_t *spec, api_err_t *e);
/* prompt.c: text[0..len) -> p->ids (malloc'd), BOS/CLS/SEP as the model asks, special texts recognised. 0 or e. */
int api__tokenize(const tok_t *tok, const char *text, size_t len, api_prompt_t *p, api_err_t *e);

/* embeddings.c: the fields of /v1/embeddings -> spec (model, encoding_format, dimensions, user; `input` kept in
   spec->prompt). 0 or a 400 / 404 in e. */
int api__parse_embeddings(api_ctx_t *c, const cJSON *root, api_spec_t *spec, api_err_t *e);
/* embeddings.c: spec->prompt (`input`) -> one prompt per input, each within the model's context. 0 or e. */
int api__embed_prompts(api_spec_t *spec, api_err_t *e);
/* embeddings.c: the response body {object: "list", data, model, usage}; malloc'd, NULL when out of memory. */
char *api__render_embeddings(const api_call_t *call, size_t *len);
/* embeddings.c: the base64 of n floats as little-endian float32 into out (4 * ((4n + 2) / 3) bytes, not
   NUL-terminated); returns the length written. */
size_t api__base64_f32(const float *v, size_t n, char *out);
/* chat_tmpl.c: compiles a model's template for api_attach. */
int api__template_compile(api_slot_t *m, const char *src, char *err, size_t err_len);
void api__template_free(api_slot_t *m);

/* One logprob entry: a generated (or, when scoring, a prompt) token, its alternatives, and where its text lies in
   the choice's text. n_top -1: the prompt's first token, which has no logprob (null in JSON). */
typedef struct {
    float logprob;
    int n_top;
    size_t start, end; /* bytes [start, end) of the choice text this token completed */
    size_t piece;      /* offset of this token's piece bytes in the gen's `pieces` buffer */
    uint32_t piece_len;
    size_t top_piece[ENGINE_MAX_TOP_LOGPROBS]; /* offsets in `pieces` */
    uint32_t top_len[ENGINE_MAX_TOP_LOGPROBS];
    float top_lp[ENGINE_MAX_TOP_LOGPROBS];
} api_lp_t;

/* What a chat choice has sent of one parsed tool call. */
typedef struct {
    char id[40];      /* "call_..." */
    bool announced;   /* its first delta (index, id, type, name) is out */
    size_t args_sent; /* bytes of its arguments streamed */
    bool closed;      /* /v1/responses: its output_item.done is out */
} api_gen_call_t;

/* One choice: one engine request. */
typedef struct {
    api_call_t *call;
    int32_t index;      /* choices[].index */
    uint64_t id;        /* engine request id */
    bool running;       /* submitted and its END not yet seen */
    bool done;          /* its finish is decided (stop string, or END) */
    const char *finish; /* "stop" / "length" once done normally, NULL otherwise */
    const api_prompt_t *prompt;
    char *text; /* the choice's text so far (cut at a stop string) */
    size_t len, cap;
    size_t released;  /* bytes of text handed out (streamed) */
    int32_t n_tokens; /* completion tokens counted for usage */
    api_lp_t *lp;     /* logprob entries, when asked */
    size_t n_lp, cap_lp, lp_sent;
    char *pieces; /* token piece bytes the entries point into */
    size_t pieces_len, pieces_cap;
    uint64_t t_first_ns, t_last_ns; /* arrival of its first and latest token (monotonic), 0 before */
    /* chat with tools or a reasoning model: the text goes through the family's parser */
    api_tf_parser_t *tfp; /* or NULL: the text is the content */
    size_t fed;           /* bytes of text fed to it */
    size_t content_sent, reasoning_sent;
    api_gen_call_t *calls; /* (n_calls,) the parser's calls as this choice reports them */
    size_t n_calls;
    int32_t n_reasoning; /* completion tokens generated inside the reasoning block */
    /* echo + logprobs (legacy): the prompt's own entries, one per prompt token, the first with no logprob
       (n_top -1); start/end are byte offsets in the echoed prompt text; pieces in `pieces` */
    api_lp_t *plp;
    size_t n_plp, cap_plp;
    bool prompt_done; /* every prompt entry is in (the first TOKEN or the END came) and the offsets are final */
    int32_t n_cached; /* the END event's prompt tokens served from the prefix cache */
    float *emb;       /* embeddings: the vector (n_emb,), malloc'd, once its EMBEDDING event came */
    int32_t n_emb;
    bool submitted; /* its engine request went in (embeddings may wait for room in the engine's queue) */
} api_gen_t;

struct api_call {
    api_ctx_t *ctx;   /* NULL once the context is freed */
    api_slot_t *slot; /* its model; valid while ctx is not NULL */
    uint64_t t0_ns;   /* when api_handle began (monotonic) */
    api_call_t *prev, *next;
    api_backend_t backend;
    const tok_t *tok;
    api_sink_t *sink; /* NULL after release */
    api_kind_t kind;
    bool stream, include_usage, logprobs, echo;
    bool score; /* legacy echo with logprobs or max_tokens 0: ENGINE_REQ_SCORE requests */
    int32_t top_logprobs;
    char id[48];
    int64_t created;
    char *model;
    char *fingerprint;
    api_stop_t stop;
    api_spec_t spec; /* the prompts and bias the gens point into */
    api_gen_t *gens;
    int32_t n_gens;
    int32_t n_running; /* gens with running == true */
    int32_t n_done;
    int32_t prompt_tokens;
    bool released;
    bool finished;          /* the response is complete (responded, or stream closed) */
    bool cancelled;         /* shutdown: end with an error */
    bool paused;            /* api_call_pause: its client is not reading */
    int quota_key;          /* the API key whose quota it draws on (-1 = none) */
    int64_t quota_reserved; /* tokens taken from that quota up front; what is unused goes back at the end */
    bool failed;            /* an engine error */
    char fail_msg[256];
};

/* call.c */
/* A random id: prefix + 29 letters and digits, into out (cap bytes). */
void api__make_id(api_ctx_t *c, const char *prefix, char *out, size_t cap);
int api__call_start(api_ctx_t *c, api_spec_t *spec, api_sink_t *sink, api_call_t **out, api_err_t *e);
void api__call_cancel(api_call_t *call);

/* render.c: each returns a malloc'd buffer and its length, or NULL when out of memory. */
char *api__render_response(const api_call_t *call, size_t *len);
/* One SSE frame for choice g: text delta [from, to) of g->text, logprob entries [lp_from, lp_to), with the
   role (chat, first chunk) and/or finish_reason (NULL: null). */
char *api__render_chunk(const api_call_t *call, const api_gen_t *g, bool role, size_t from, size_t to, size_t lp_from,
                        size_t lp_to, const char *finish, size_t *len);
/* One streamed delta of a parsed chat choice: reasoning and/or content text, or one tool call's first fragment
   (call_id and name set) or an argument fragment, with logprob entries [lp_from, lp_to). */
typedef struct {
    const char *reasoning, *content;
    size_t reasoning_len, content_len;
    int32_t call; /* the call's index, or -1 */
    const char *call_id, *call_name;
    const char *args;
    size_t args_len;
    size_t lp_from, lp_to;
} api_delta_t;
char *api__render_delta(const api_call_t *call, const api_gen_t *g, const api_delta_t *d, size_t *len);
/* One logprob entry as chat's logprobs.content and the Responses API's output_text.logprobs list it:
   {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}. */
void api__render_lp_entry(jw_t *w, const api_gen_t *g, const api_lp_t *e);
/* The final usage chunk (choices: []). */
char *api__render_usage_chunk(const api_call_t *call, size_t *len);
/* /v1/models (one == NULL) or one model's object. */
char *api__render_models(const api_ctx_t *c, const api_slot_t *one, size_t *len);

/* metrics.c */
uint64_t api__now_ns(void);
api_endpoint_t api__endpoint(const char *path);
void api__hist_observe(api_hist_t *h, const double *bounds, size_t n_bounds, double v);
/* A choice ended: counts its tokens, finish reason, time to first token and time per output token. */
void api__mx_gen_end(api_call_t *call, const api_gen_t *g, const engine_event_t *ev);
/* GET /metrics body (Prometheus text format 0.0.4); malloc'd, NULL when out of memory. */
char *api__render_metrics(const api_ctx_t *c, size_t *len);
/* GET /health body for the ok and loading states (status, load totals, and each model); malloc'd or NULL. */
char *api__render_health(const api_ctx_t *c, const char *status, size_t *len);

/* api.c */
void api__send_error(api_sink_t *sink, const api_err_t *e);
/* The model with this id, or NULL. */
api_slot_t *api__find(api_ctx_t *c, const char *id);
uint64_t api__rand(api_ctx_t *c);
void api__live_add(api_ctx_t *c, api_call_t *call);
void api__live_remove(api_call_t *call);
/* Decodes %XX escapes into out (cap bytes); false when it does not fit. */
bool api__unescape(const char *s, char *out, size_t cap);
void api__respond_json(api_sink_t *sink, int status, char *body, size_t n);

/* responses.c, resp_render.c */
void api__resp_free(api_resp_t *r);
/* responses.c: validates a POST /v1/responses body into spec (zeroed first); key = the request's API key or NULL.
   0 or an error in e. */
int api__resp_parse(api_ctx_t *c, const cJSON *root, const char *key, api_spec_t *spec, api_err_t *e);
/* truncation: auto: drops the oldest message after any system one; false when none is left to drop. */
bool api__resp_truncate(api_spec_t *spec);
/* responses.c: GET /v1/responses/{id}, DELETE it, GET .../input_items (rest: the path after /v1/responses/). */
void api__resp_get(api_ctx_t *c, const char *method, const char *rest, const char *query, const char *key,
                   api_sink_t *sink);
/* resp_render.c, from call.c: the stream's opening events (created ... content_part.added); a text delta
   [from, to) of g as one output_text.delta event (malloc'd SSE bytes, NULL when out of memory); and the end of
   the call (stored first when asked, then the response or the closing events; failures as OpenAI shows them). */
void api__resp_open(api_call_t *call);
void api__resp_finish(api_call_t *call);
/* Streams what the parser decided since the last look as output items and their deltas (streaming calls). */
void api__resp_progress(api_call_t *call, api_gen_t *g);

#endif
