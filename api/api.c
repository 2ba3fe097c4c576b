/*
 * api.c — the api context and its models, routing, authentication, /health and /v1/models (see api.h).
 *
 * Routes (anything else is 404; a known path with another method is 405 with an Allow header):
 *   GET  /health                 200 {"status":"ok", queued, running, kv_blocks_used, kv_blocks_total,
 *                                models:[{id, status, ...}]}; 503 {"status":"loading", ...} until every model
 *                                is attached, {"status":"shutting_down"}; never needs an API key
 *   GET  /metrics                Prometheus text (metrics.c); needs the metrics key when one is set (only it)
 *   GET  /v1/models              {"object":"list","data":[model, ...]}, every configured model
 *   GET  /v1/models/{id}         the model, or 404 model_not_found
 *   POST /v1/chat/completions    params.c, prompt.c, call.c; `model` picks the model
 *   POST /v1/completions
 *   POST /v1/embeddings          embeddings.c, call.c; embedding models only (and they serve nothing else)
 *   POST /v1/responses           responses.c, then prompt.c and call.c as chat; resp_render.c renders
 *   GET  /v1/responses/{id}      a stored response (resp_store.c), DELETE it too
 *   GET  /v1/responses/{id}/input_items
 * When API keys are configured, every route but /health and /metrics needs "Authorization: Bearer KEY"; keys are
 * compared in time independent of where they differ (and of which key matches). api_check_headers makes every
 * decision that needs no body (route, method, key, declared size) so the HTTP side can answer before reading one.
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "err.h"
#include "jr.h"
#include "resp_store.h"

/* ---- context ---------------------------------------------------------------------------------------------- */

uint64_t api__rand(api_ctx_t *c) {
    uint64_t x = c->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void api__live_add(api_ctx_t *c, api_call_t *call) {
    call->prev = NULL;
    call->next = c->live;
    if (c->live) c->live->prev = call;
    c->live = call;
    c->n_live++;
}

void api__live_remove(api_call_t *call) {
    api_ctx_t *c = call->ctx;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->live = call->next;
    if (call->next) call->next->prev = call->prev;
    c->n_live--;
    call->ctx = NULL;
}

static uint64_t api__fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void api__slot_free(api_slot_t *m) {
    free(m->id);
    free(m->source);
    free(m->fingerprint);
    api__template_free(m);
    api__gcache_clear(m);
}

/* Whether sources[i] names model i alone: no model has it as its id, and no other model has it as its source. */
static bool api__source_unique(const char *const *ids, size_t n, const char *const *sources, size_t i) {
    for (size_t j = 0; j < n; j++)
        if (!strcmp(ids[j], sources[i]) || (j != i && sources[j] && !strcmp(sources[j], sources[i]))) return false;
    return true;
}

int api_create(const api_params_t *p, api_ctx_t **out, char *err, size_t err_len) {
    *out = NULL;
    const char *const one[1] = {p->model_id};
    const char *const *ids = p->n_models ? p->model_ids : one;
    size_t n = p->n_models ? p->n_models : 1;
    for (size_t i = 0; i < n; i++) {
        if (!ids || !ids[i] || !*ids[i]) return err_set(err, err_len, ERR_INVAL, "no model id");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ids[i], ids[j]))
                return err_set(err, err_len, ERR_INVAL, "two models have the id '%.200s'", ids[i]);
    }
    api_ctx_t *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    c->models = calloc(n, sizeof *c->models);
    bool ok = c->models != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        api_slot_t *m = &c->models[i];
        c->n_models = i + 1;
        char fp[32];
        snprintf(fp, sizeof fp, "fp_%012llx", (unsigned long long)(api__fnv(ids[i]) & 0xffffffffffffull));
        m->id = strdup(ids[i]);
        m->fingerprint = strdup(p->system_fingerprint ? p->system_fingerprint : fp);
        ok = m->id && m->fingerprint;
        const char *src = p->n_models && p->model_sources ? p->model_sources[i] : NULL;
        if (ok && src && *src && api__source_unique(ids, n, p->model_sources, i))
            ok = (m->source = strdup(src)) != NULL;
    }
    c->owned_by = strdup(p->owned_by ? p->owned_by : "cinder");
    c->created = p->created;
    c->fixed_created = p->fixed_created;
    c->max_n = p->max_n > 0 ? p->max_n : 128;
    c->max_body_bytes = p->max_body_bytes;
    c->reasoning_inline = p->reasoning_inline;
    if (p->metrics_api_key && *p->metrics_api_key) ok = ok && (c->metrics_key = strdup(p->metrics_api_key)) != NULL;
    c->rng = p->seed ? p->seed : (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)clock();
    if (!c->rng) c->rng = 0x9E3779B97F4A7C15ull;
    ok = ok && c->owned_by;
    if (ok && p->n_api_keys) {
        c->keys = calloc(p->n_api_keys, sizeof *c->keys);
        c->quotas = calloc(p->n_api_keys, sizeof *c->quotas);
        ok = c->keys != NULL && c->quotas != NULL;
        for (size_t i = 0; ok && i < p->n_api_keys; i++)
            for (size_t j = 0; j < p->n_key_limits; j++)
                if (p->api_keys[i] && p->key_limits[j].key && !strcmp(p->api_keys[i], p->key_limits[j].key)) {
                    api_quota_t *q = &c->quotas[i];
                    q->rpm = p->key_limits[j].rpm > 0 ? p->key_limits[j].rpm : 0;
                    q->tpm = p->key_limits[j].tpm > 0 ? p->key_limits[j].tpm : 0;
                    q->req_left = (double)q->rpm; /* a key starts with its whole minute */
                    q->tok_left = (double)q->tpm;
                }
        for (size_t i = 0; ok && i < p->n_api_keys; i++) {
            c->keys[i] = strdup(p->api_keys[i] ? p->api_keys[i] : "");
            ok = c->keys[i] != NULL;
            c->n_keys = i + 1;
        }
    }
    if (!ok) {
        api_free(c);
        return err_set(err, err_len, ERR_NOMEM, "out of memory");
    }
    if (p->responses_store && *p->responses_store) {
        resp_store_opts_t so = resp_store_default_opts();
        so.max_age_s = p->responses_max_age_s;
        so.max_bytes = p->responses_max_bytes;
        int rc = resp_store_open(p->responses_store, &so, &c->store, err, err_len);
        if (rc) {
            api_free(c);
            return rc;
        }
        int64_t pruned = 0; /* what aged out while the server was down */
        char msg[256];
        if (!resp_store_prune(c->store, c->fixed_created ? c->fixed_created : (int64_t)time(NULL), &pruned, msg,
                              sizeof msg))
            c->resp_pruned += (uint64_t)pruned;
    }
    *out = c;
    return 0;
}

void api_free(api_ctx_t *c) {
    if (!c) return;
    while (c->live)
        api__live_remove(c->live); /* detach: the calls free themselves later */
    for (size_t i = 0; i < c->n_models; i++)
        api__slot_free(&c->models[i]);
    free(c->models);
    free(c->owned_by);
    free(c->metrics_key);
    for (size_t i = 0; i < c->n_keys; i++)
        free(c->keys[i]);
    free(c->keys);
    free(c->quotas);
    resp_store_close(c->store);
    free(c);
}

int api_attach(api_ctx_t *c, const api_model_t *m, char *err, size_t err_len) {
    if (!m->tok || m->n_ctx < 1 || !m->backend.submit || !m->backend.cancel || m->index >= c->n_models ||
        (m->embedding && m->n_embd < 1))
        return err_set(err, err_len, ERR_INVAL, "incomplete model description");
    api_slot_t *s = &c->models[m->index];
    if (s->attached) return err_set(err, err_len, ERR_INVAL, "model '%.200s' is already attached", s->id);
    s->tok = m->tok;
    if (err && err_len) err[0] = '\0';
    int rc = api__template_compile(s, m->chat_template ? m->chat_template : api_chatml_template(), err, err_len);
    if (rc == ERR_NOMEM || (rc && m->strict_template)) {
        s->tok = NULL;
        return rc;
    }
    s->n_ctx = m->n_ctx;
    s->embedding = m->embedding;
    s->n_embd = m->n_embd;
    s->backend = m->backend;
    s->load_ms = m->load_ms;
    s->attached = true;
    c->n_attached++;
    return 0; /* a model's own template that does not compile: err says why, and chat requests will too */
}

void api_shutdown(api_ctx_t *c) {
    c->shutting_down = true;
    for (api_call_t *call = c->live; call; call = call->next)
        api__call_cancel(call);
}

size_t api_live_calls(const api_ctx_t *c) { return c->n_live; }

/* ---- responses -------------------------------------------------------------------------------------------- */

void api__send_error(api_sink_t *sink, const api_err_t *e) {
    size_t n = 0;
    char *body = api_err_json(e, &n);
    /* 401 says how to authenticate; 503 (queue full, loading, shutting down) says when to come back */
    const api_header_t auth[] = {{"WWW-Authenticate", "Bearer"}}, retry[] = {{"Retry-After", "1"}};
    const api_header_t *extra = e->status == 401 ? auth : e->status == 503 ? retry : NULL;
    if (!body) {
        static const char oom[] = "{\"error\":{\"message\":\"Out of memory.\",\"type\":\"server_error\","
                                  "\"param\":null,\"code\":null}}";
        sink->respond(sink, 503, NULL, 0, oom, sizeof oom - 1);
        return;
    }
    sink->respond(sink, e->status, extra, extra ? 1 : 0, body, n);
    free(body);
}

void api_respond_error(api_sink_t *sink, int status, const char *type, const char *code, const char *param,
                       const char *message) {
    api_err_t e;
    api_err_set(&e, 0, status, type, code, param, "%s", message);
    api__send_error(sink, &e);
}

void api__respond_json(api_sink_t *sink, int status, char *body, size_t n) {
    if (!body) {
        api_respond_error(sink, 503, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    sink->respond(sink, status, NULL, 0, body, n);
    free(body);
}

/* ---- authentication --------------------------------------------------------------------------------------- */

/* Compares a and b in time that depends only on their lengths' maximum, not on where they differ. */
static bool api__ct_equal(const char *a, size_t an, const char *b, size_t bn) {
    size_t n = an > bn ? an : bn;
    unsigned diff = an != bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < an ? (unsigned char)a[i] : 0, y = i < bn ? (unsigned char)b[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    return diff == 0;
}

/* Which of the n keys auth ("Bearer KEY") carries: its index, API_KEY_OPEN when there are no keys (anything,
   NULL included, passes), or API_KEY_NONE. */
#define API_KEY_OPEN (-2)
#define API_KEY_NONE (-1)
static int api__key_index(char *const *keys, size_t n_keys, const char *auth) {
    if (n_keys == 0) return API_KEY_OPEN;
    if (!auth) return API_KEY_NONE;
    while (*auth == ' ')
        auth++;
    if (strncasecmp(auth, "Bearer ", 7)) return API_KEY_NONE;
    const char *key = auth + 7;
    while (*key == ' ')
        key++;
    size_t kn = strlen(key);
    while (kn && key[kn - 1] == ' ')
        kn--;
    int hit = API_KEY_NONE;
    for (size_t i = 0; i < n_keys; i++) /* every key is compared, whichever matches */
        hit = api__ct_equal(key, kn, keys[i], strlen(keys[i])) ? (int)i : hit;
    return hit;
}

/* ---- routes ----------------------------------------------------------------------------------------------- */

static void api__health(api_ctx_t *c, api_sink_t *sink) {
    if (c->shutting_down) {
        static const char b[] = "{\"status\":\"shutting_down\"}";
        sink->respond(sink, 503, NULL, 0, b, sizeof b - 1);
        return;
    }
    bool ready = c->n_attached == c->n_models;
    size_t n = 0;
    char *body = api__render_health(c, ready ? "ok" : "loading", &n);
    api__respond_json(sink, ready ? 200 : 503, body, n);
}

api_slot_t *api__find(api_ctx_t *c, const char *id) {
    for (size_t i = 0; i < c->n_models; i++)
        if (!strcmp(c->models[i].id, id)) return &c->models[i];
    for (size_t i = 0; i < c->n_models; i++)
        if (c->models[i].source && !strcmp(c->models[i].source, id)) return &c->models[i];
    return NULL;
}

static void api__metrics(api_ctx_t *c, api_sink_t *sink) {
    size_t n = 0;
    char *body = api__render_metrics(c, &n);
    if (!body) {
        api_respond_error(sink, 503, "server_error", NULL, NULL, "Out of memory.");
        return;
    }
    const api_header_t h[] = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    sink->respond(sink, 200, h, 1, body, n);
    free(body);
}

/* Decodes %XX escapes of a path segment into out (cap bytes). Returns false when it does not fit. */
bool api__unescape(const char *s, char *out, size_t cap) {
    size_t k = 0;
    for (; *s; s++) {
        if (k + 1 >= cap) {
            out[k] = '\0';
            return false;
        }
        int hi, lo;
        if (*s == '%' && s[1] && s[2] && sscanf(s + 1, "%1x%1x", &hi, &lo) == 2) {
            out[k++] = (char)(hi * 16 + lo);
            s += 2;
        } else {
            out[k++] = *s;
        }
    }
    out[k] = '\0';
    return true;
}

static void api__generate(api_ctx_t *c, api_kind_t kind, const api_request_t *req, int key, api_sink_t *sink,
                          api_call_t **call_out) {
    api_err_t e;
    api_spec_t spec;
    memset(&spec, 0, sizeof spec);
    cJSON *root = NULL;
    if (c->shutting_down) {
        api_respond_error(sink, 503, "server_error", NULL, NULL, "The server is shutting down.");
        return;
    }
    if (c->n_attached == 0) {
        api_respond_error(sink, 503, "server_error", NULL, NULL, "The model is still loading; retry shortly.");
        return;
    }
    uint64_t t0 = api__now_ns();
    int rc = jr_parse(req->body, req->body_len, &root, &e);
    if (!rc && kind == API_RESP)
        rc = api__resp_parse(c, root, key >= 0 ? c->keys[key] : NULL, &spec, &e);
    else if (!rc)
        rc = kind == API_EMBED ? api__parse_embeddings(c, root, &spec, &e) : api__parse_request(c, kind, root, &spec, &e);
    spec.t0_ns = t0;
    int32_t n_ctx = spec.slot ? spec.slot->n_ctx : 0;
    if (!rc) rc = api__build_prompts(c, &spec, &e);
    /* responses with truncation: auto drop their oldest messages until the prompt fits */
    while (!rc && kind == API_RESP && spec.resp->trunc_auto && spec.n_prompts &&
           (int64_t)spec.prompts[0].n + (spec.max_tokens ? spec.max_tokens : 1) > n_ctx && api__resp_truncate(&spec))
        rc = api__build_prompts(c, &spec, &e);
    const char *what = kind == API_CHAT ? "messages" : kind == API_RESP ? "input" : "prompt";
    for (size_t i = 0; !rc && kind != API_EMBED && i < spec.n_prompts; i++) { /* embeddings: api__embed_prompts */
        int64_t n_prompt = (int64_t)spec.prompts[i].n;
        int64_t want = spec.score_only ? 0 : spec.max_tokens ? spec.max_tokens : (kind == API_TEXT ? 16 : 1);
        if (n_prompt + want > n_ctx) {
            if (spec.max_tokens && !spec.score_only)
                rc = api_err_set(&e, ERR_CONTEXT, 400, "invalid_request_error", "context_length_exceeded", what,
                                 "This model's maximum context length is %d tokens. However, you requested %lld "
                                 "tokens (%lld in the %s, %lld for the completion). Please reduce the length of "
                                 "the %s or completion.",
                                 n_ctx, (long long)(n_prompt + want), (long long)n_prompt, what, (long long)want, what);
            else
                rc = api_err_set(&e, ERR_CONTEXT, 400, "invalid_request_error", "context_length_exceeded", what,
                                 "This model's maximum context length is %d tokens. However, your %s resulted in "
                                 "%lld tokens. Please reduce the length of the %s.",
                                 n_ctx, what, (long long)n_prompt, what);
        }
    }
    if (!rc && kind == API_TEXT && !spec.max_tokens && !spec.score_only) spec.max_tokens = 16; /* OpenAI's default */
    if (!rc && kind != API_EMBED && (int64_t)spec.n_prompts * spec.n > c->max_n)
        rc = api_err_set(&e, ERR_RANGE, 400, "invalid_request_error", "invalid_value", "n",
                         "Invalid 'n': %zu prompts x n = %d asks for more than %d choices.", spec.n_prompts, spec.n,
                         c->max_n);
    /* the key's quota: one request, and the most tokens this one can use (prompts + max_tokens per choice) */
    int64_t reserve = 0;
    bool quota = !rc && api__quota_limited(c, key);
    if (quota) {
        for (size_t i = 0; i < spec.n_prompts; i++)
            reserve += (int64_t)spec.n * ((int64_t)spec.prompts[i].n +
                                          (spec.max_tokens || spec.score_only || kind == API_EMBED ? spec.max_tokens
                                                                              : n_ctx - (int64_t)spec.prompts[i].n));
        api_quota_hdrs_t qh;
        int retry_s = 1;
        rc = api__quota_take(c, key, reserve, &qh, &e, &retry_s);
        if (rc) { /* 429 with Retry-After and the x-ratelimit-* headers */
            api_header_t h[API_QUOTA_MAX_HDRS + 1];
            char ra[16];
            snprintf(ra, sizeof ra, "%d", retry_s);
            h[0] = (api_header_t){"Retry-After", ra};
            memcpy(h + 1, qh.h, qh.n * sizeof *h);
            size_t n = 0;
            char *body = api_err_json(&e, &n);
            if (body)
                sink->respond(sink, 429, h, qh.n + 1, body, n);
            else
                api_respond_error(sink, 503, "server_error", NULL, NULL, "Out of memory.");
            free(body);
            api__spec_free(&spec);
            cJSON_Delete(root);
            return;
        }
        if (sink->headers) sink->headers(sink, qh.h, qh.n);
    }
    if (!rc) rc = api__call_start(c, &spec, sink, call_out, &e); /* takes over spec, even on failure */
    if (!rc && quota && *call_out) {
        (*call_out)->quota_key = key;
        (*call_out)->quota_reserved = reserve;
    } else if (quota) {
        api__quota_refund(c, key, reserve); /* not started: nothing used */
    }
    if (rc) api__send_error(sink, &e);
    api__spec_free(&spec);
    cJSON_Delete(root);
}

/* The routes: every request is matched here, both by api_check_headers and by api_handle. */
typedef enum {
    API_RT_NONE,
    API_RT_HEALTH,
    API_RT_MODELS,
    API_RT_MODEL,
    API_RT_CHAT,
    API_RT_TEXT,
    API_RT_EMBED,
    API_RT_METRICS,
    API_RT_RESP,      /* POST /v1/responses */
    API_RT_RESP_ONE,  /* GET, DELETE /v1/responses/{id} */
    API_RT_RESP_ITEMS /* GET /v1/responses/{id}/input_items */
} api_route_t;

static api_route_t api__route(const char *path, const char **allow) {
    static const char models_prefix[] = "/v1/models/", resp_prefix[] = "/v1/responses/";
    *allow = "GET, HEAD";
    if (!strncmp(path, resp_prefix, sizeof resp_prefix - 1) && path[sizeof resp_prefix - 1]) {
        const char *rest = path + sizeof resp_prefix - 1, *slash = strchr(rest, '/');
        if (slash == rest) return API_RT_NONE;
        if (slash && !strcmp(slash, "/input_items")) return API_RT_RESP_ITEMS;
        if (!slash) {
            *allow = "GET, HEAD, DELETE";
            return API_RT_RESP_ONE;
        }
    }
    if (!strcmp(path, "/health")) return API_RT_HEALTH;
    if (!strcmp(path, "/metrics")) return API_RT_METRICS;
    if (!strcmp(path, "/v1/models")) return API_RT_MODELS;
    if (!strncmp(path, models_prefix, sizeof models_prefix - 1) && path[sizeof models_prefix - 1]) return API_RT_MODEL;
    *allow = "POST";
    if (!strcmp(path, "/v1/chat/completions")) return API_RT_CHAT;
    if (!strcmp(path, "/v1/completions")) return API_RT_TEXT;
    if (!strcmp(path, "/v1/embeddings")) return API_RT_EMBED;
    if (!strcmp(path, "/v1/responses")) return API_RT_RESP;
    *allow = NULL;
    return API_RT_NONE;
}

/*
 * Everything decided from the method, path and headers: 404 for an unknown route, 405 for a wrong method, 401
 * for a missing or wrong key, 413 for a declared body over the limit. Answers through sink and returns true, or
 * returns false when the request may go on. content_length < 0: unknown (not declared, or chunked).
 */
static bool api__precheck(api_ctx_t *c, const api_request_t *req, int64_t content_length, api_sink_t *sink,
                          api_route_t *route_out, int *key_out) {
    const char *m = req->method ? req->method : "";
    const char *path = req->path ? req->path : "";
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    const char *allow = NULL;
    api_route_t route = api__route(path, &allow);
    *route_out = route;
    char shown[160];
    snprintf(shown, sizeof shown, "%.8s %.140s", m, path);
    if (route == API_RT_NONE) {
        api_err_t e;
        api_err_set(&e, 0, 404, "invalid_request_error", NULL, NULL, "Invalid URL (%s)", shown);
        api__send_error(sink, &e);
        return true;
    }
    bool want_post = route == API_RT_CHAT || route == API_RT_TEXT || route == API_RT_EMBED || route == API_RT_RESP;
    bool ok_method = want_post ? post : get || (route == API_RT_RESP_ONE && !strcmp(m, "DELETE"));
    if (!ok_method) {
        api_err_t e;
        api_err_set(&e, 0, 405, "invalid_request_error", NULL, NULL, "Invalid method for URL (%s); allowed: %s.", shown,
                    allow);
        size_t n = 0;
        char *body = api_err_json(&e, &n);
        const api_header_t h[] = {{"Allow", allow}};
        if (body)
            sink->respond(sink, 405, h, 1, body, n);
        else
            api_respond_error(sink, 503, "server_error", NULL, NULL, "Out of memory.");
        free(body);
        return true;
    }
    *key_out = API_KEY_OPEN;
    if (route == API_RT_HEALTH) return false;
    int key = route == API_RT_METRICS ? api__key_index(&c->metrics_key, c->metrics_key ? 1 : 0, req->authorization)
                                      : api__key_index(c->keys, c->n_keys, req->authorization);
    *key_out = route == API_RT_METRICS ? API_KEY_OPEN : key;
    if (key == API_KEY_NONE) {
        api_err_t e;
        api_err_set(&e, 0, 401, "invalid_request_error", "invalid_api_key", NULL,
                    req->authorization
                        ? "Incorrect API key provided."
                        : "You didn't provide an API key. You need to provide your API key in an "
                          "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        api__send_error(sink, &e);
        return true;
    }
    if (c->max_body_bytes && content_length > 0 && (uint64_t)content_length > c->max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is larger than this server accepts (%llu bytes).",
                 (unsigned long long)c->max_body_bytes);
        api_respond_error(sink, 413, "invalid_request_error", "request_too_large", NULL, msg);
        return true;
    }
    return false;
}

bool api_check_headers(api_ctx_t *c, const api_request_t *req, int64_t content_length, api_sink_t *sink) {
    api_route_t route;
    int key;
    return api__precheck(c, req, content_length, sink, &route, &key);
}

int api_handle(api_ctx_t *c, const api_request_t *req, api_sink_t *sink, api_call_t **call_out) {
    *call_out = NULL;
    api_route_t route;
    int key;
    if (api__precheck(c, req, (int64_t)req->body_len, sink, &route, &key)) return 0;
    const char *path = req->path ? req->path : "";
    static const char models_prefix[] = "/v1/models/";
    if (route == API_RT_HEALTH) {
        api__health(c, sink);
        return 0;
    }
    if (route == API_RT_METRICS) {
        api__metrics(c, sink);
        return 0;
    }
    if (route == API_RT_MODELS) {
        size_t n = 0;
        char *body = api__render_models(c, NULL, &n);
        api__respond_json(sink, 200, body, n);
    } else if (route == API_RT_MODEL) {
        char id[512];
        api_slot_t *one = NULL;
        if (!api__unescape(path + sizeof models_prefix - 1, id, sizeof id) || !(one = api__find(c, id))) {
            jr_utf8_sanitize(id);
            api_err_t e;
            api_err_set(&e, 0, 404, "invalid_request_error", "model_not_found", "model",
                        "The model '%.200s' does not exist", id);
            api__send_error(sink, &e);
            return 0;
        }
        size_t n = 0;
        char *body = api__render_models(c, one, &n);
        api__respond_json(sink, 200, body, n);
    } else if (route == API_RT_RESP_ONE || route == API_RT_RESP_ITEMS) {
        api__resp_get(c, req->method, path + strlen("/v1/responses/"), req->query, key >= 0 ? c->keys[key] : NULL,
                      sink);
    } else {
        api__generate(c,
                      route == API_RT_CHAT    ? API_CHAT
                      : route == API_RT_RESP  ? API_RESP
                      : route == API_RT_EMBED ? API_EMBED
                                              : API_TEXT,
                      req, key, sink, call_out);
    }
    return 0;
}
