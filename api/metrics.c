/*
 * metrics.c — what GET /metrics and GET /health report: counters and histograms kept by the api (requests by
 * endpoint and status, tokens, time to first token, time per output token, finish reasons) and, read at scrape
 * time through each model's backend, the engine's gauges (queue, running sequences, KV blocks, prefix-cache
 * hits). Rendered in Prometheus' text exposition format 0.0.4, every model-level series labelled model="ID":
 *
 *   cinder_http_requests_total{endpoint,status}          counter    answered requests (status 499: client left)
 *   cinder_http_request_duration_seconds{endpoint}       histogram  arrival -> end of the response
 *   cinder_model_loaded{model}                           gauge      1 once loaded
 *   cinder_model_load_seconds{model}                     gauge      time engine_create took
 *   cinder_prompt_tokens_total{model}                    counter    prompt tokens of ended generations
 *   cinder_generation_tokens_total{model}                counter    generated tokens
 *   cinder_generations_total{model,finish_reason}        counter    ended choices: stop, length, cancelled, error
 *   cinder_time_to_first_token_seconds{model}            histogram  request arrival -> a choice's first token
 *   cinder_time_per_output_token_seconds{model}          histogram  mean gap between a choice's tokens
 *   cinder_queue_length{model}                           gauge      requests waiting for a slot
 *   cinder_running_sequences{model}                      gauge      sequences reading their prompt or generating
 *   cinder_kv_blocks_used{model} / _cached / _total      gauge      KV cache blocks referenced / reusable / pool
 *   cinder_prefix_cache_hit_ratio{model}                 gauge      hit tokens / looked-up prompt tokens
 *   cinder_prefix_cache_hit_tokens_total{model}          counter    (and _lookup_tokens_total: rate() them)
 *   cinder_preemptions_total{model}                      counter    sequences preempted for KV memory
 *   cinder_responses_stored_total / _pruned_total        counter    /v1/responses' store (when it has one)
 *
 * Times are measured on the loop thread with the monotonic clock, when events arrive there (so they include the
 * hop from the engine thread). Loop thread only, like the rest of api/.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "jw.h"

/* Upper bounds in seconds (Prometheus `le`), ascending. */
static const double mx__ttft_s[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
                                    0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
static const double mx__tpot_s[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                    0.3,   0.4,   0.5,  0.75,  1.0,  2.5,   5.0, 10.0};
static const double mx__http_s[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,  0.25,  0.5,
                                    1.0,   2.5,   5.0,  10.0,  30.0, 60.0, 120.0, 300.0};
#define MX_N(a) (sizeof(a) / sizeof(a)[0])

_Static_assert(MX_N(mx__ttft_s) <= API_MX_MAX_BUCKETS && MX_N(mx__tpot_s) <= API_MX_MAX_BUCKETS &&
                   MX_N(mx__http_s) <= API_MX_MAX_BUCKETS,
               "bucket arrays");

static const char *const mx__endpoints[API_EP_COUNT] = {
    "/health", "/metrics", "/v1/models", "/v1/models/{id}", "/v1/chat/completions", "/v1/completions",
    "/v1/embeddings", "/v1/responses", "/", "other",
};
static const char *const mx__fin[API_FIN_COUNT] = {"stop", "length", "cancelled", "error"};

uint64_t api__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

api_endpoint_t api__endpoint(const char *path) {
    if (!path) return API_EP_OTHER;
    if (!strcmp(path, "/health")) return API_EP_HEALTH;
    if (!strcmp(path, "/metrics")) return API_EP_METRICS;
    if (!strcmp(path, "/v1/models")) return API_EP_MODELS;
    if (!strncmp(path, "/v1/models/", 11) && path[11]) return API_EP_MODEL;
    if (!strcmp(path, "/v1/chat/completions")) return API_EP_CHAT;
    if (!strcmp(path, "/v1/completions")) return API_EP_COMPLETIONS;
    if (!strcmp(path, "/v1/embeddings")) return API_EP_EMBEDDINGS;
    if (!strncmp(path, "/v1/responses", 13) && (!path[13] || path[13] == '/')) return API_EP_RESPONSES;
    if (!strcmp(path, "/")) return API_EP_ROOT;
    return API_EP_OTHER;
}

void api__hist_observe(api_hist_t *h, const double *bounds, size_t n_bounds, double v) {
    if (!(v >= 0)) v = 0; /* NaN or a clock that went backwards */
    size_t i = 0;
    while (i < n_bounds && v > bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void api_observe_http(api_ctx_t *c, const char *path, int status, double duration_ms) {
    api_endpoint_t ep = api__endpoint(path);
    if (status < 0 || status > 999) status = 0;
    api__hist_observe(&c->http_s[ep], mx__http_s, MX_N(mx__http_s), duration_ms / 1e3);
    for (size_t i = 0; i < c->n_http; i++)
        if (c->http[i].endpoint == ep && c->http[i].status == status) {
            c->http[i].n++;
            return;
        }
    if (c->n_http == API_MX_MAX_HTTP) return; /* bounded: the endpoints are few, statuses too in practice */
    c->http[c->n_http++] = (api_http_count_t){.endpoint = (uint8_t)ep, .status = (uint16_t)status, .n = 1};
}

void api__mx_gen_end(api_call_t *call, const api_gen_t *g, const engine_event_t *ev) {
    if (!call->ctx || !call->slot) return; /* the context is gone (shutdown): nobody will read these */
    api_model_mx_t *mx = &call->slot->mx;
    mx->prompt_tokens += ev->n_prompt > 0 ? (uint64_t)ev->n_prompt : 0;
    mx->gen_tokens += g->n_tokens > 0 ? (uint64_t)g->n_tokens : 0;
    api_fin_t fin;
    if (g->done && g->finish) /* a stop string ended it before the engine did */
        fin = !strcmp(g->finish, "length") ? API_FIN_LENGTH : API_FIN_STOP;
    else if (ev->finish == ENGINE_FINISH_STOP)
        fin = API_FIN_STOP;
    else if (ev->finish == ENGINE_FINISH_LENGTH)
        fin = API_FIN_LENGTH;
    else if (ev->finish == ENGINE_FINISH_ERROR)
        fin = API_FIN_ERROR;
    else
        fin = API_FIN_CANCELLED;
    mx->finished[fin]++;
    if (g->t_first_ns) {
        double ttft = (double)(g->t_first_ns - call->t0_ns) / 1e9;
        api__hist_observe(&mx->ttft, mx__ttft_s, MX_N(mx__ttft_s), ttft);
    }
    if (g->n_tokens >= 2 && g->t_last_ns >= g->t_first_ns) {
        double tpot = (double)(g->t_last_ns - g->t_first_ns) / 1e9 / (double)(g->n_tokens - 1);
        api__hist_observe(&mx->tpot, mx__tpot_s, MX_N(mx__tpot_s), tpot);
    }
}

/* ---- Prometheus text ---------------------------------------------------------------------------------------- */

static void mx__printf(jw_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mx__printf(jw_t *w, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) jw_bytes(w, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* A label value: backslash, double quote and newline escaped, as the exposition format asks. */
static void mx__label(jw_t *w, const char *v) {
    const char *run = v;
    for (const char *p = v; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (!esc) continue;
        jw_bytes(w, run, (size_t)(p - run));
        jw_bytes(w, esc, 2);
        run = p + 1;
    }
    jw_bytes(w, run, strlen(run));
}

static void mx__family(jw_t *w, const char *name, const char *type, const char *help) {
    mx__printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Ends a sample after its labels: `"} v` and the newline, v in the fewest significant digits (up to 17) that
 * read back as v (0.000968156, not 0.00096815599999999996), and NaN / +Inf / -Inf as Prometheus spells them. */
static void mx__value(jw_t *w, double v) {
    char buf[40];
    if (isnan(v) || isinf(v))
        snprintf(buf, sizeof buf, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
    else
        for (int digits = 6; digits <= 17; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, v);
            if (strtod(buf, NULL) == v) break;
        }
    mx__printf(w, "\"} %s\n", buf);
}

/* name{key="value"} v — the common one-label sample. */
static void mx__sample(jw_t *w, const char *name, const char *key, const char *value, double v) {
    mx__printf(w, "%s{%s=\"", name, key);
    mx__label(w, value);
    mx__value(w, v);
}

static void mx__hist(jw_t *w, const char *name, const char *key, const char *value, const api_hist_t *h,
                     const double *bounds, size_t n_bounds) {
    uint64_t cum = 0;
    for (size_t i = 0; i <= n_bounds; i++) {
        cum += h->bucket[i];
        mx__printf(w, "%s_bucket{%s=\"", name, key);
        mx__label(w, value);
        if (i < n_bounds)
            mx__printf(w, "\",le=\"%g\"} %llu\n", bounds[i], (unsigned long long)cum);
        else
            mx__printf(w, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    mx__printf(w, "%s_sum{%s=\"", name, key);
    mx__label(w, value);
    mx__value(w, h->sum);
    mx__printf(w, "%s_count{%s=\"", name, key);
    mx__label(w, value);
    mx__printf(w, "\"} %llu\n", (unsigned long long)h->count);
}

static void mx__stats(const api_slot_t *m, engine_stats_t *st) {
    memset(st, 0, sizeof *st);
    if (m->attached && m->backend.stats) m->backend.stats(m->backend.self, st);
}

/* One gauge or counter family over the attached models, from their engine stats. */
typedef double (*mx_stat_fn)(const engine_stats_t *st);
static double mx__queued(const engine_stats_t *st) { return st->queued; }
static double mx__running(const engine_stats_t *st) { return st->running; }
static double mx__kv_used(const engine_stats_t *st) { return st->kv_blocks_used; }
static double mx__kv_cached(const engine_stats_t *st) { return st->kv_blocks_cached; }
static double mx__kv_total(const engine_stats_t *st) { return st->kv_blocks_total; }
static double mx__hit_tokens(const engine_stats_t *st) { return (double)st->prefix_hit_tokens; }
static double mx__lookup_tokens(const engine_stats_t *st) { return (double)st->prefix_lookup_tokens; }
static double mx__preempted(const engine_stats_t *st) { return (double)st->n_preempted; }
static double mx__hit_ratio(const engine_stats_t *st) {
    return st->prefix_lookup_tokens ? (double)st->prefix_hit_tokens / (double)st->prefix_lookup_tokens : 0.0;
}

char *api__render_metrics(const api_ctx_t *c, size_t *len) {
    jw_t w;
    jw_init(&w);
    engine_stats_t stats[64];
    size_t n_stats = c->n_models < 64 ? c->n_models : 64;
    for (size_t i = 0; i < n_stats; i++)
        mx__stats(&c->models[i], &stats[i]);

    mx__family(&w, "cinder_http_requests_total", "counter",
               "HTTP requests answered, by endpoint and status code (499: the client left before any response).");
    for (size_t i = 0; i < c->n_http; i++)
        mx__printf(&w, "cinder_http_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n",
                   mx__endpoints[c->http[i].endpoint], (unsigned)c->http[i].status, (unsigned long long)c->http[i].n);
    mx__family(&w, "cinder_http_request_duration_seconds", "histogram",
               "Time from a request's arrival to the end of its response, by endpoint.");
    for (int ep = 0; ep < API_EP_COUNT; ep++)
        if (c->http_s[ep].count)
            mx__hist(&w, "cinder_http_request_duration_seconds", "endpoint", mx__endpoints[ep], &c->http_s[ep],
                     mx__http_s, MX_N(mx__http_s));

    mx__family(&w, "cinder_model_loaded", "gauge", "1 when the model is loaded and serving, 0 while it loads.");
    for (size_t i = 0; i < c->n_models; i++)
        mx__sample(&w, "cinder_model_loaded", "model", c->models[i].id, c->models[i].attached ? 1 : 0);
    mx__family(&w, "cinder_model_load_seconds", "gauge", "How long loading the model took.");
    for (size_t i = 0; i < c->n_models; i++)
        if (c->models[i].attached)
            mx__sample(&w, "cinder_model_load_seconds", "model", c->models[i].id, c->models[i].load_ms / 1e3);

    mx__family(&w, "cinder_prompt_tokens_total", "counter", "Prompt tokens of generations that ended.");
    for (size_t i = 0; i < c->n_models; i++)
        mx__sample(&w, "cinder_prompt_tokens_total", "model", c->models[i].id, (double)c->models[i].mx.prompt_tokens);
    mx__family(&w, "cinder_generation_tokens_total", "counter", "Tokens generated.");
    for (size_t i = 0; i < c->n_models; i++)
        mx__sample(&w, "cinder_generation_tokens_total", "model", c->models[i].id, (double)c->models[i].mx.gen_tokens);
    mx__family(&w, "cinder_generations_total", "counter", "Generations (one per choice) that ended, by finish reason.");
    for (size_t i = 0; i < c->n_models; i++)
        for (int f = 0; f < API_FIN_COUNT; f++) {
            mx__printf(&w, "cinder_generations_total{model=\"");
            mx__label(&w, c->models[i].id);
            mx__printf(&w, "\",finish_reason=\"%s\"} %llu\n", mx__fin[f],
                       (unsigned long long)c->models[i].mx.finished[f]);
        }
    mx__family(&w, "cinder_time_to_first_token_seconds", "histogram",
               "Time from a request's arrival to the first token of each of its choices.");
    for (size_t i = 0; i < c->n_models; i++)
        mx__hist(&w, "cinder_time_to_first_token_seconds", "model", c->models[i].id, &c->models[i].mx.ttft, mx__ttft_s,
                 MX_N(mx__ttft_s));
    mx__family(&w, "cinder_time_per_output_token_seconds", "histogram",
               "Mean time between a choice's tokens after the first (choices of two tokens or more).");
    for (size_t i = 0; i < c->n_models; i++)
        mx__hist(&w, "cinder_time_per_output_token_seconds", "model", c->models[i].id, &c->models[i].mx.tpot,
                 mx__tpot_s, MX_N(mx__tpot_s));

    static const struct {
        const char *name, *type, *help;
        mx_stat_fn fn;
    } gauges[] = {
        {"cinder_queue_length", "gauge", "Requests waiting for a free sequence slot.", mx__queued},
        {"cinder_running_sequences", "gauge", "Sequences reading their prompt or generating.", mx__running},
        {"cinder_kv_blocks_used", "gauge", "KV cache blocks referenced by sequences.", mx__kv_used},
        {"cinder_kv_blocks_cached", "gauge", "Unreferenced KV cache blocks kept for prefix reuse.", mx__kv_cached},
        {"cinder_kv_blocks_capacity", "gauge", "KV cache blocks in the pool.", mx__kv_total},
        {"cinder_prefix_cache_hit_ratio", "gauge",
         "Share of looked-up prompt tokens served from the prefix cache since start.", mx__hit_ratio},
        {"cinder_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.",
         mx__hit_tokens},
        {"cinder_prefix_cache_lookup_tokens_total", "counter", "Prompt tokens looked up in the prefix cache.",
         mx__lookup_tokens},
        {"cinder_preemptions_total", "counter", "Times a sequence was preempted to free KV cache memory.",
         mx__preempted},
    };
    for (size_t k = 0; k < sizeof gauges / sizeof gauges[0]; k++) {
        mx__family(&w, gauges[k].name, gauges[k].type, gauges[k].help);
        for (size_t i = 0; i < n_stats; i++)
            if (c->models[i].attached)
                mx__sample(&w, gauges[k].name, "model", c->models[i].id, gauges[k].fn(&stats[i]));
    }
    if (c->store) { /* /v1/responses' store (resp_store.c) */
        mx__family(&w, "cinder_responses_stored_total", "counter", "Responses written to the responses store.");
        mx__printf(&w, "cinder_responses_stored_total %llu\n", (unsigned long long)c->resp_stored);
        mx__family(&w, "cinder_responses_pruned_total", "counter",
                   "Stored responses deleted for the store's age or size limit.");
        mx__printf(&w, "cinder_responses_pruned_total %llu\n", (unsigned long long)c->resp_pruned);
    }
    return jw_finish(&w, len);
}

/* ---- /health ------------------------------------------------------------------------------------------------ */

static void mx__health_fields(jw_t *w, const engine_stats_t *st) {
    jw_key(w, "queued");
    jw_int(w, st->queued);
    jw_key(w, "running");
    jw_int(w, st->running);
    jw_key(w, "kv_blocks_used");
    jw_int(w, st->kv_blocks_used);
    jw_key(w, "kv_blocks_total");
    jw_int(w, st->kv_blocks_total);
}

char *api__render_health(const api_ctx_t *c, const char *status, size_t *len) {
    engine_stats_t sum = {0}, st;
    jw_t w;
    jw_init(&w);
    for (size_t i = 0; i < c->n_models; i++) {
        mx__stats(&c->models[i], &st);
        sum.queued += st.queued;
        sum.running += st.running;
        sum.kv_blocks_used += st.kv_blocks_used;
        sum.kv_blocks_total += st.kv_blocks_total;
    }
    jw_obj(&w);
    jw_key(&w, "status");
    jw_str(&w, status);
    mx__health_fields(&w, &sum);
    jw_key(&w, "models");
    jw_arr(&w);
    for (size_t i = 0; i < c->n_models; i++) {
        mx__stats(&c->models[i], &st);
        jw_obj(&w);
        jw_key(&w, "id");
        jw_str(&w, c->models[i].id);
        jw_key(&w, "status");
        jw_str(&w, c->models[i].attached ? "ok" : "loading");
        mx__health_fields(&w, &st);
        jw_end(&w);
    }
    jw_end(&w);
    jw_end(&w);
    return jw_finish(&w, len);
}
