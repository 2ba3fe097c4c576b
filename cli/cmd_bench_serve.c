/*
 * cmd_bench_serve.c — `cinder bench-serve`: a load generator for any OpenAI-compatible server (cinder,
 * llama.cpp's llama-server, vLLM). It keeps C streaming requests in flight until R have been sent, times every
 * chunk of every stream, and reports with vLLM's definitions (bench_stats.h): request and token throughput,
 * TTFT, TPOT, ITL and end-to-end latency, each as mean, p50 and p99.
 *
 * One thread drives every connection through libcurl's multi interface; each response body goes through an
 * incremental SSE parser (bench_sse.h) and each event's JSON through cJSON. Times are taken when a chunk
 * reaches this process, as any client would see them.
 *
 * Prompts are synthetic: words drawn from a fixed list of common English words by a seeded generator, a
 * different sequence per request, so a prefix cache cannot make later requests trivial. A tokenizer is not
 * at hand, so two short warm-up requests (not counted; vLLM also sends one first) measure how many tokens the
 * server makes of two prompt sizes, and the word count is fitted to land near P tokens; the report shows the
 * server-reported mean. Forcing generation past end-of-sequence is not portable, so requests that stop before
 * max_tokens are counted and reported instead. A failed request (connection error, HTTP error, error event, cut stream)
 * is counted with its message; it never stops the run.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench_sse.h"
#include "bench_stats.h"
#include "cli.h"
#include "err.h"

#define BSV_MAX_EVENT_BYTES (1 << 20) /* one SSE line or event; a chunk is a few hundred bytes */
#define BSV_MAX_ERRBODY     400       /* bytes kept of a non-200 response body, for the message */
#define BSV_MAX_ITL         (1 << 22) /* content chunks recorded per request */
#define BSV_MAX_ERRKINDS    6         /* distinct failure messages reported */

typedef struct {
    const char *base_url;
    const char *model;   /* NULL: the first id of GET /v1/models */
    const char *api_key; /* NULL: no Authorization header */
    bool chat;           /* /v1/chat/completions (true) or /v1/completions */
    long long concurrency;
    long long requests;
    long long prompt_tokens; /* target prompt size, tokens */
    long long max_tokens;
    long long seed;
    long long timeout_s; /* per request */
    long long warmup;    /* 0 or 1: two short uncounted requests first, which calibrate the prompt size */
    double temperature;
    bool ignore_eos; /* send the non-standard "ignore_eos": true (vLLM, llama-server) */
    const char *response_format; /* JSON object sent as every request's response_format, or NULL */
    bool json;
    const char *json_out; /* also write the JSON report here */
} bsv_opts_t;

/* One request in flight (or done). */
typedef struct {
    CURL *easy;
    char *body;       /* JSON request body, owned */
    bsse_t sse;       /* parser of the response stream */
    double t_start_s; /* cli_now() when the request was handed to curl */
    double t_last_s;  /* time of the last content chunk */
    long status;      /* HTTP status, once known */
    bool done;        /* saw "data: [DONE]" */
    bool failed;
    char errmsg[256];
    char errbody[BSV_MAX_ERRBODY + 1]; /* start of a non-200 body */
    size_t errbody_len;
    char finish[32]; /* the last finish_reason seen ("" when none) */
    char curl_err[CURL_ERROR_SIZE];
    bstat_req_t res;
    double *itl_s; /* (n_itl,) owned; res.itl_s points here when done */
    size_t itl_cap;
} bsv_req_t;

/* One run: R requests, C at a time. */
typedef struct {
    const bsv_opts_t *o;
    const char *url;
    const char *model;
    struct curl_slist *headers;
    long long n_words;    /* words per prompt */
    long long max_tokens; /* per request in this run */
    uint64_t seed_base;   /* prompt i uses seed_base + i */
    size_t n;             /* requests */
    bsv_req_t *reqs;      /* (n,) */
    double duration_s;
} bsv_run_t;

/* ---- prompts ---- */

/* Common English words; most are a single token in large vocabularies (Llama, GPT-2, SmolLM). */
static const char *const bsv_words[] = {
    "the",     "of",     "and",    "to",    "in",     "is",     "was",    "that",   "for",    "on",     "with",
    "as",      "by",     "at",     "from",  "his",    "her",    "they",   "this",   "which",  "one",    "all",
    "were",    "there",  "when",   "would", "what",   "their",  "said",   "about",  "time",   "people", "could",
    "other",   "than",   "then",   "them",  "first",  "water",  "after",  "where",  "year",   "work",   "world",
    "house",   "school", "city",   "place", "small",  "great",  "little", "old",    "young",  "long",   "light",
    "night",   "day",    "hand",   "story", "friend", "family", "tree",   "river",  "road",   "sun",    "moon",
    "boy",     "girl",   "dog",    "cat",   "bird",   "book",   "door",   "window", "table",  "garden", "morning",
    "street",  "music",  "food",   "happy", "quiet",  "green",  "blue",   "red",    "white",  "black",  "warm",
    "cold",    "early",  "late",   "found", "made",   "went",   "saw",    "gave",   "took",   "came",   "knew",
    "thought", "looked", "asked",  "began", "turned", "walked", "played", "helped", "opened", "called", "every",
    "under",   "before", "around", "again", "never",  "always", "often",  "today",  "while",  "until",  "because",
};
#define BSV_N_WORDS (sizeof bsv_words / sizeof bsv_words[0])

static uint64_t bsv_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A prompt of n_words words drawn by the generator seeded with seed; malloc'd, NULL when out of memory. */
static char *bsv_prompt(uint64_t seed, long long n_words) {
    size_t longest = 0, len = 0;
    for (size_t i = 0; i < BSV_N_WORDS; i++)
        if (strlen(bsv_words[i]) > longest) longest = strlen(bsv_words[i]);
    if (n_words < 1 || (uint64_t)n_words > SIZE_MAX / 2 / (longest + 1)) return NULL;
    char *s = malloc((size_t)n_words * (longest + 1) + 1); /* each word plus its space, and the NUL */
    if (!s) return NULL;
    uint64_t st = seed * 0x2545f4914f6cdd1dull + 1;
    for (long long i = 0; i < n_words; i++) {
        const char *w = bsv_words[bsv_splitmix(&st) % BSV_N_WORDS];
        size_t wl = strlen(w);
        if (i > 0) s[len++] = ' ';
        memcpy(s + len, w, wl);
        len += wl;
    }
    s[len] = '\0';
    return s;
}

/* The request body for one prompt; malloc'd, NULL when out of memory. */
static char *bsv_body(const bsv_run_t *run, const char *prompt) {
    const bsv_opts_t *o = run->o;
    char *out = NULL;
    cJSON *root = cJSON_CreateObject(), *so = NULL;
    if (!root || !cJSON_AddStringToObject(root, "model", run->model)) goto cleanup;
    if (o->chat) {
        cJSON *msgs = cJSON_AddArrayToObject(root, "messages"), *m = cJSON_CreateObject();
        if (!msgs || !m) {
            cJSON_Delete(m);
            goto cleanup;
        }
        cJSON_AddItemToArray(msgs, m);
        if (!cJSON_AddStringToObject(m, "role", "user") || !cJSON_AddStringToObject(m, "content", prompt)) goto cleanup;
    } else if (!cJSON_AddStringToObject(root, "prompt", prompt)) {
        goto cleanup;
    }
    if (!cJSON_AddNumberToObject(root, "max_tokens", (double)run->max_tokens) ||
        !cJSON_AddNumberToObject(root, "temperature", o->temperature) || !cJSON_AddTrueToObject(root, "stream") ||
        !(so = cJSON_AddObjectToObject(root, "stream_options")) || !cJSON_AddTrueToObject(so, "include_usage"))
        goto cleanup;
    if (o->ignore_eos && !cJSON_AddTrueToObject(root, "ignore_eos")) goto cleanup;
    if (o->response_format) {
        cJSON *rf = cJSON_Parse(o->response_format); /* checked by bsv_parse */
        if (!rf || !cJSON_AddItemToObject(root, "response_format", rf)) {
            cJSON_Delete(rf);
            goto cleanup;
        }
    }
    out = cJSON_PrintUnformatted(root);
cleanup:
    cJSON_Delete(root);
    return out;
}

/* ---- one request ---- */

static void bsv_fail(bsv_req_t *r, const char *fmt, const char *detail) {
    if (r->failed) return; /* keep the first cause */
    r->failed = true;
    snprintf(r->errmsg, sizeof r->errmsg, fmt, detail);
}

/* Handles one SSE event of a 200 response: [DONE], an error object, or a chunk. */
static int bsv_on_event(void *user, const char *event, const char *data, size_t len) {
    bsv_req_t *r = user;
    double now = cli_now();
    if (r->done || r->failed) return 0;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        r->done = true;
        r->res.latency_s = now - r->t_start_s;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsObject(j)) {
        char head[80];
        snprintf(head, sizeof head, "%.60s", data);
        bsv_fail(r, "a stream event is not a JSON object: '%s'", head);
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e || !strcmp(event, "error")) {
        const cJSON *msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        bsv_fail(r, "error event: %s", cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *c0 = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    if (cJSON_IsObject(c0)) {
        /* Chat chunks carry choices[0].delta.content, completion chunks choices[0].text. */
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
        const cJSON *text = cJSON_IsObject(delta) ? cJSON_GetObjectItemCaseSensitive(delta, "content")
                                                  : cJSON_GetObjectItemCaseSensitive(c0, "text");
        if (cJSON_IsString(text) && text->valuestring[0]) {
            if (r->res.n_chunks == 0) {
                r->res.ttft_s = now - r->t_start_s;
            } else {
                if (r->res.n_itl == r->itl_cap) {
                    size_t cap = r->itl_cap ? r->itl_cap * 2 : 256;
                    double *nb = cap <= BSV_MAX_ITL ? realloc(r->itl_s, cap * sizeof *nb) : NULL;
                    if (!nb) {
                        bsv_fail(r, "%s", "out of memory for inter-token latencies");
                        cJSON_Delete(j);
                        return 0;
                    }
                    r->itl_s = nb;
                    r->itl_cap = cap;
                }
                r->itl_s[r->res.n_itl++] = now - r->t_last_s;
            }
            r->t_last_s = now;
            r->res.n_chunks++;
        }
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
        if (cJSON_IsString(fr)) snprintf(r->finish, sizeof r->finish, "%s", fr->valuestring);
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage)) {
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
        if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e15) {
            r->res.has_usage = true;
            r->res.n_output = (int64_t)ct->valuedouble;
            r->res.n_prompt =
                cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e15 ? (int64_t)pt->valuedouble : 0;
        }
    }
    cJSON_Delete(j);
    return 0;
}

/* libcurl's write callback: SSE for a 200 response, the start of the body otherwise. */
static size_t bsv_on_data(char *ptr, size_t size, size_t nmemb, void *user) {
    bsv_req_t *r = user;
    size_t n = size * nmemb;
    if (r->status == 0) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status != 200) {
        size_t k = n < BSV_MAX_ERRBODY - r->errbody_len ? n : BSV_MAX_ERRBODY - r->errbody_len;
        memcpy(r->errbody + r->errbody_len, ptr, k);
        r->errbody_len += k;
        r->errbody[r->errbody_len] = '\0';
        return n;
    }
    char err[200];
    if (bsse_feed(&r->sse, ptr, n, bsv_on_event, r, err, sizeof err)) {
        bsv_fail(r, "%s", err);
        return 0; /* aborts the transfer */
    }
    return r->failed ? 0 : n;
}

static void bsv_req_free(bsv_req_t *r) {
    if (!r) return;
    if (r->easy) curl_easy_cleanup(r->easy);
    free(r->body);
    free(r->itl_s);
    bsse_free(&r->sse);
    memset(r, 0, sizeof *r);
}

/* Builds request i of the run and hands it to curl. Returns 0 or ERR_NOMEM (the request is then failed). */
static int bsv_req_start(bsv_run_t *run, CURLM *multi, size_t i) {
    bsv_req_t *r = &run->reqs[i];
    bsse_init(&r->sse, BSV_MAX_EVENT_BYTES);
    char *prompt = bsv_prompt(run->seed_base + i, run->n_words);
    r->body = prompt ? bsv_body(run, prompt) : NULL;
    free(prompt);
    r->easy = r->body ? curl_easy_init() : NULL;
    if (!r->easy) {
        bsv_fail(r, "%s", "out of memory building the request");
        return ERR_NOMEM;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, run->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, run->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bsv_on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)run->o->timeout_s);
    r->t_start_s = cli_now();
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        bsv_fail(r, "%s", "curl refused the request");
        return ERR_STATE;
    }
    return 0;
}

/* Settles a request whose transfer ended with code cc: success needs HTTP 200 and a stream ending in [DONE]. */
static void bsv_req_done(bsv_run_t *run, bsv_req_t *r, CURLcode cc) {
    double now = cli_now();
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->failed && cc != CURLE_OK) {
        r->failed = true;
        /* the report groups failures by message: curl's detail carries timings ("after 3 ms") that would split
         * one kind of failure into several lines, so drop them */
        char *after = strstr(r->curl_err, " after "), *ms = after ? strstr(after, " ms") : NULL;
        if (ms) memmove(after, ms + 3, strlen(ms + 3) + 1);
        snprintf(r->errmsg, sizeof r->errmsg, "curl: %.200s", r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc));
    }
    if (!r->failed && r->status != 200) {
        r->failed = true;
        /* One line of the body is enough to say why (an OpenAI error object, usually). */
        for (char *p = r->errbody; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        snprintf(r->errmsg, sizeof r->errmsg, "HTTP %ld: %.200s", r->status, r->errbody);
    }
    if (!r->failed && !r->done) {
        /* A last event may lack its blank line; a last line without its line end means the stream was cut. */
        char err[200];
        if (bsse_mid_line(&r->sse))
            bsv_fail(r, "%s", "the stream was cut in the middle of a line");
        else if (bsse_finish(&r->sse, bsv_on_event, r, err, sizeof err))
            bsv_fail(r, "%s", err);
    }
    if (!r->failed && !r->done) bsv_fail(r, "%s", "the stream ended without 'data: [DONE]'");
    if (r->failed) {
        r->res.ok = false;
        r->res.latency_s = now - r->t_start_s;
        return;
    }
    r->res.ok = true;
    if (!r->res.has_usage) r->res.n_output = r->res.n_chunks;
    r->res.early = r->finish[0] ? strcmp(r->finish, "length") != 0 : r->res.n_output < run->max_tokens;
    r->res.itl_s = r->itl_s;
}

/* Runs run->n requests, at most concurrency at a time; fills run->reqs and run->duration_s. Returns 0 or
 * ERR_NOMEM / ERR_STATE when curl itself fails (individual request failures are recorded, not returned). */
static int bsv_run(bsv_run_t *run, long long concurrency, char *err, size_t err_len) {
    int rc = 0;
    CURLM *multi = curl_multi_init();
    if (!multi) return err_set(err, err_len, ERR_NOMEM, "curl_multi_init failed");
    size_t sent = 0, finished = 0, in_flight = 0;
    double t0 = cli_now();
    while (finished < run->n) {
        while (sent < run->n && in_flight < (size_t)concurrency) {
            if (bsv_req_start(run, multi, sent)) {
                run->reqs[sent].res.ok = false; /* could not even be sent: settled now */
                finished++;
            } else {
                in_flight++;
            }
            sent++;
        }
        if (in_flight == 0) continue;
        int running = 0;
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc != CURLM_OK) {
            rc = err_set(err, err_len, ERR_STATE, "curl: %s", curl_multi_strerror(mc));
            break;
        }
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            bsv_req_t *r = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(multi, msg->easy_handle);
            if (r) bsv_req_done(run, r, cc);
            in_flight--;
            finished++;
        }
        if (finished < run->n && (sent == run->n || in_flight >= (size_t)concurrency)) {
            mc = curl_multi_poll(multi, NULL, 0, 100, NULL);
            if (mc != CURLM_OK) {
                rc = err_set(err, err_len, ERR_STATE, "curl: %s", curl_multi_strerror(mc));
                break;
            }
        }
    }
    run->duration_s = cli_now() - t0;
    /* On a curl failure, requests still in flight are failed with that cause. */
    for (size_t i = 0; i < run->n; i++) {
        bsv_req_t *r = &run->reqs[i];
        if (r->easy) curl_multi_remove_handle(multi, r->easy);
        if (rc && i < sent && !r->res.ok && !r->failed) bsv_fail(r, "%s", "abandoned after a curl failure");
    }
    curl_multi_cleanup(multi);
    return rc;
}

static void bsv_run_free(bsv_run_t *run) {
    if (!run->reqs) return;
    for (size_t i = 0; i < run->n; i++)
        bsv_req_free(&run->reqs[i]);
    free(run->reqs);
    run->reqs = NULL;
}

/* ---- setup ---- */

/* base + "/v1" + path, without doubling a "/v1" or a trailing slash the user gave. */
static int bsv_url(const char *base, const char *path, char *out, size_t cap) {
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    bool has_v1 = n >= 3 && !memcmp(base + n - 3, "/v1", 3);
    int k = snprintf(out, cap, "%.*s%s%s", (int)n, base, has_v1 ? "" : "/v1", path);
    return k < 0 || (size_t)k >= cap ? ERR_RANGE : 0;
}

typedef struct {
    char *buf;
    size_t len, cap;
} bsv_buf_t;

static size_t bsv_on_body(char *ptr, size_t size, size_t nmemb, void *user) {
    bsv_buf_t *b = user;
    size_t n = size * nmemb;
    if (n > b->cap - b->len) return 0; /* too big: abort */
    memcpy(b->buf + b->len, ptr, n);
    b->len += n;
    return n;
}

/* GET /v1/models and copy the first model's id into out. Returns 0 or a negative code with detail in err. */
static int bsv_first_model(const char *base_url, struct curl_slist *headers, long timeout_s, char *out, size_t cap,
                           char *err, size_t err_len) {
    char url[2048];
    if (bsv_url(base_url, "/models", url, sizeof url)) return err_set(err, err_len, ERR_RANGE, "--base-url too long");
    int rc = 0;
    bsv_buf_t b = {malloc(1 << 20), 0, (1 << 20) - 1};
    CURL *e = curl_easy_init();
    cJSON *j = NULL;
    if (!b.buf || !e) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bsv_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
    CURLcode cc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK || status != 200) {
        rc = err_set(err, err_len, ERR_IO, "GET %s failed (%s, HTTP %ld); pass --model NAME", url,
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "ok", status);
        goto cleanup;
    }
    j = cJSON_ParseWithLength(b.buf, b.len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "id");
    if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) >= cap) {
        rc = err_set(err, err_len, ERR_FORMAT, "GET %s: no model id in the answer; pass --model NAME", url);
        goto cleanup;
    }
    snprintf(out, cap, "%s", id->valuestring);
cleanup:
    cJSON_Delete(j);
    if (e) curl_easy_cleanup(e);
    free(b.buf);
    return rc;
}

/*
 * One uncounted request of n_words words (max_tokens at most 16), run alone. *n_prompt gets the prompt tokens
 * the server reported (0 when it sent no usage). Returns 0, or a negative code with the reason in err (a
 * failed warm-up means the benchmark would fail too: wrong URL, model or key).
 */
static int bsv_warmup(const bsv_run_t *tmpl, long long n_words, uint64_t seed, int64_t *n_prompt, char *err,
                      size_t err_len) {
    bsv_run_t warm = *tmpl;
    warm.n = 1;
    warm.n_words = n_words;
    warm.seed_base = seed;
    warm.max_tokens = tmpl->max_tokens < 16 ? tmpl->max_tokens : 16;
    *n_prompt = 0;
    if (!(warm.reqs = calloc(1, sizeof *warm.reqs))) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc = bsv_run(&warm, 1, err, err_len);
    if (!rc && !warm.reqs[0].res.ok)
        rc = err_set(err, err_len, ERR_IO, "the warm-up request to %s failed: %s", warm.url, warm.reqs[0].errmsg);
    if (!rc && warm.reqs[0].res.has_usage) *n_prompt = warm.reqs[0].res.n_prompt;
    bsv_run_free(&warm);
    return rc;
}

/* ---- report ---- */

typedef struct {
    const char *msg; /* borrowed from a request */
    size_t count;
} bsv_errkind_t;

/* Groups the failure messages: up to BSV_MAX_ERRKINDS distinct ones, the rest counted in *n_other. */
static size_t bsv_errkinds(const bsv_run_t *run, bsv_errkind_t *kinds, size_t *n_other) {
    size_t k = 0;
    *n_other = 0;
    for (size_t i = 0; i < run->n; i++) {
        const bsv_req_t *r = &run->reqs[i];
        if (r->res.ok) continue;
        const char *m = r->errmsg[0] ? r->errmsg : "request not completed";
        size_t j = 0;
        while (j < k && strcmp(kinds[j].msg, m))
            j++;
        if (j < k)
            kinds[j].count++;
        else if (k < BSV_MAX_ERRKINDS)
            kinds[k++] = (bsv_errkind_t){m, 1};
        else
            (*n_other)++;
    }
    return k;
}

static void bsv_print_table(FILE *to, const bsv_run_t *run, const bstat_report_t *rep) {
    const bsv_opts_t *o = run->o;
    fprintf(to, "============ cinder bench-serve ============\n");
    fprintf(to, "%-34s %s\n", "Endpoint:", run->url);
    fprintf(to, "%-34s %s\n", "Model:", run->model);
    fprintf(to, "%-34s %lld\n", "Concurrency:", o->concurrency);
    fprintf(to, "%-34s %lld tokens (%lld words), max_tokens %lld\n", "Prompt target:", o->prompt_tokens, run->n_words,
            o->max_tokens);
    fprintf(to, "%-34s %zu of %zu\n", "Successful requests:", rep->n_ok, rep->n_requests);
    fprintf(to, "%-34s %zu\n", "Failed requests:", rep->n_failed);
    fprintf(to, "%-34s %zu\n", "Stopped before max_tokens:", rep->n_early);
    fprintf(to, "%-34s %.2f\n", "Benchmark duration (s):", rep->duration_s);
    if (rep->n_usage)
        fprintf(to, "%-34s %lld (mean %.1f per request)\n",
                "Total prompt tokens (server):", (long long)rep->total_prompt, rep->mean_prompt);
    else
        fprintf(to, "%-34s unknown (the server sent no usage)\n", "Total prompt tokens:");
    fprintf(to, "%-34s %lld (mean %.1f per request%s)\n", "Total output tokens:", (long long)rep->total_output,
            rep->mean_output, rep->n_usage < rep->n_ok ? "; some counted as chunks" : "");
    fprintf(to, "%-34s %.2f\n", "Request throughput (req/s):", rep->req_per_s);
    fprintf(to, "%-34s %.2f\n", "Output token throughput (tok/s):", rep->output_tok_per_s);
    fprintf(to, "%-34s %.2f\n", "Total token throughput (tok/s):", rep->total_tok_per_s);
    fprintf(to, "%-22s %12s %12s %12s\n", "latency (ms)", "mean", "p50", "p99");
    const struct {
        const char *name;
        const bstat_summary_t *s;
    } rows[] = {{"TTFT", &rep->ttft}, {"TPOT", &rep->tpot}, {"ITL", &rep->itl}, {"E2E latency", &rep->e2e}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].s->n == 0)
            fprintf(to, "%-22s %12s %12s %12s\n", rows[i].name, "-", "-", "-");
        else
            fprintf(to, "%-22s %12.2f %12.2f %12.2f\n", rows[i].name, rows[i].s->mean * 1e3, rows[i].s->p50 * 1e3,
                    rows[i].s->p99 * 1e3);
    }
    bsv_errkind_t kinds[BSV_MAX_ERRKINDS];
    size_t n_other, k = bsv_errkinds(run, kinds, &n_other);
    for (size_t i = 0; i < k; i++)
        fprintf(to, "failed x%zu: %s\n", kinds[i].count, kinds[i].msg);
    if (n_other) fprintf(to, "failed x%zu: (other errors)\n", n_other);
    fprintf(to, "============================================\n");
}

/* Adds {"mean","std","p50","p99","n"} in milliseconds under name; false when out of memory. */
static bool bsv_json_summary(cJSON *root, const char *name, const bstat_summary_t *s) {
    cJSON *o = cJSON_AddObjectToObject(root, name);
    return o && cJSON_AddNumberToObject(o, "mean", s->mean * 1e3) && cJSON_AddNumberToObject(o, "std", s->std * 1e3) &&
           cJSON_AddNumberToObject(o, "p50", s->p50 * 1e3) && cJSON_AddNumberToObject(o, "p99", s->p99 * 1e3) &&
           cJSON_AddNumberToObject(o, "n", (double)s->n);
}

/* The report as a JSON text (malloc'd; NULL when out of memory). Field names follow vLLM's result file. */
static char *bsv_json(const bsv_run_t *run, const bstat_report_t *rep) {
    const bsv_opts_t *o = run->o;
    char *out = NULL;
    cJSON *root = cJSON_CreateObject(), *errs = NULL;
    bool ok = root && cJSON_AddStringToObject(root, "url", run->url) &&
              cJSON_AddStringToObject(root, "endpoint", o->chat ? "chat" : "completions") &&
              cJSON_AddStringToObject(root, "model", run->model) &&
              cJSON_AddNumberToObject(root, "concurrency", (double)o->concurrency) &&
              cJSON_AddNumberToObject(root, "num_prompts", (double)rep->n_requests) &&
              cJSON_AddNumberToObject(root, "prompt_tokens_target", (double)o->prompt_tokens) &&
              cJSON_AddNumberToObject(root, "prompt_words", (double)run->n_words) &&
              cJSON_AddNumberToObject(root, "max_tokens", (double)o->max_tokens) &&
              cJSON_AddNumberToObject(root, "completed", (double)rep->n_ok) &&
              cJSON_AddNumberToObject(root, "failed", (double)rep->n_failed) &&
              cJSON_AddNumberToObject(root, "finished_early", (double)rep->n_early) &&
              cJSON_AddNumberToObject(root, "usage_reported", (double)rep->n_usage) &&
              cJSON_AddNumberToObject(root, "duration", rep->duration_s) &&
              cJSON_AddNumberToObject(root, "total_input_tokens", (double)rep->total_prompt) &&
              cJSON_AddNumberToObject(root, "total_output_tokens", (double)rep->total_output) &&
              cJSON_AddNumberToObject(root, "mean_input_tokens", rep->mean_prompt) &&
              cJSON_AddNumberToObject(root, "mean_output_tokens", rep->mean_output) &&
              cJSON_AddNumberToObject(root, "request_throughput", rep->req_per_s) &&
              cJSON_AddNumberToObject(root, "output_throughput", rep->output_tok_per_s) &&
              cJSON_AddNumberToObject(root, "total_token_throughput", rep->total_tok_per_s) &&
              bsv_json_summary(root, "ttft_ms", &rep->ttft) && bsv_json_summary(root, "tpot_ms", &rep->tpot) &&
              bsv_json_summary(root, "itl_ms", &rep->itl) && bsv_json_summary(root, "e2el_ms", &rep->e2e) &&
              (errs = cJSON_AddArrayToObject(root, "errors"));
    bsv_errkind_t kinds[BSV_MAX_ERRKINDS];
    size_t n_other, k = ok ? bsv_errkinds(run, kinds, &n_other) : 0;
    for (size_t i = 0; ok && i <= k; i++) {
        if (i == k && !n_other) break;
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddStringToObject(e, "message", i < k ? kinds[i].msg : "(other errors)") &&
             cJSON_AddNumberToObject(e, "count", (double)(i < k ? kinds[i].count : n_other));
        if (e) cJSON_AddItemToArray(errs, e);
    }
    if (ok) out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

/* ---- the command ---- */

static void bsv_usage(FILE *to) {
    fprintf(to,
            "usage: cinder bench-serve --base-url URL [options]\n"
            "Drives an OpenAI-compatible server (cinder, llama-server, vLLM) with streaming requests, keeping C in\n"
            "flight until R have been sent, and reports with vLLM's definitions: request and token throughput,\n"
            "TTFT, TPOT, ITL and end-to-end latency (mean, p50, p99). Two short uncounted warm-up requests come\n"
            "first; they fit the synthetic prompt's word count to about P tokens.\n"
            "\n"
            "  --base-url URL        server address, e.g. http://127.0.0.1:8080 (a trailing /v1 is fine)\n"
            "  --model NAME          model id to request (default: the first of GET /v1/models)\n"
            "  --endpoint chat|completions   /v1/chat/completions (default) or /v1/completions\n"
            "  --concurrency C       requests in flight at once (default 1)\n"
            "  --requests R          requests in all (default 10)\n"
            "  --prompt-tokens P     prompt size in tokens, approximately (default 128)\n"
            "  --max-tokens T        max_tokens of each request (default 128)\n"
            "  --temperature X       sampling temperature sent (default 0)\n"
            "  --ignore-eos          also send \"ignore_eos\": true (a vLLM / llama-server extension)\n"
            "  --response-format J   send the JSON object J as every request's response_format (e.g. a json_schema,\n"
            "                        to measure constrained decoding)\n"
            "  --api-key K           send \"Authorization: Bearer K\"\n"
            "  --seed S              seed of the synthetic prompts (default 0)\n"
            "  --timeout-s N         limit on each request, seconds (default 600)\n"
            "  --no-warmup           skip the warm-up (prompts are then P words, whatever that tokenizes to)\n"
            "  --json                print the report as JSON instead of a table\n"
            "  --json-out PATH       also write the JSON report to PATH\n"
            "  -h, --help            this text\n"
            "Exit status: 0 when at least one request succeeded, 1 otherwise, 2 for a usage error.\n");
}

static bool bsv_takes_value(const char *opt) {
    static const char *const names[] = {"--base-url",   "--model",       "--api-key",   "--json-out",
                                        "--endpoint",   "--concurrency", "--requests",  "--prompt-tokens",
                                        "--max-tokens", "--seed",        "--timeout-s", "--temperature",
                                        "--response-format"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(opt, names[i])) return true;
    return false;
}

/* Parses the options into *o; returns 0 to go on, or the exit status (0 after --help, 2 on an error). */
static int bsv_parse(int argc, char **argv, bsv_opts_t *o, bool *stop) {
    const char *cmd = "bench-serve";
    *stop = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bsv_usage(stdout);
            *stop = true;
            return 0;
        } else if (!strcmp(a, "--no-warmup")) {
            o->warmup = 0;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = true;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!bsv_takes_value(a)) {
            fprintf(stderr, "cinder bench-serve: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!(v = cli_value(cmd, argc, argv, &i))) {
            return 2;
        } else if (!strcmp(a, "--base-url")) {
            o->base_url = v;
        } else if (!strcmp(a, "--model")) {
            o->model = v;
        } else if (!strcmp(a, "--api-key")) {
            o->api_key = v;
        } else if (!strcmp(a, "--json-out")) {
            o->json_out = v;
        } else if (!strcmp(a, "--endpoint")) {
            if (!strcmp(v, "chat"))
                o->chat = true;
            else if (!strcmp(v, "completions"))
                o->chat = false;
            else {
                fprintf(stderr, "cinder bench-serve: --endpoint expects chat or completions, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--concurrency")) {
            ok = cli_parse_int(cmd, a, v, 1, 4096, &o->concurrency);
        } else if (!strcmp(a, "--requests")) {
            ok = cli_parse_int(cmd, a, v, 1, 1000000, &o->requests);
        } else if (!strcmp(a, "--prompt-tokens")) {
            ok = cli_parse_int(cmd, a, v, 1, 1000000, &o->prompt_tokens);
        } else if (!strcmp(a, "--max-tokens")) {
            ok = cli_parse_int(cmd, a, v, 1, 1000000, &o->max_tokens);
        } else if (!strcmp(a, "--seed")) {
            ok = cli_parse_int(cmd, a, v, 0, INT64_MAX, &o->seed);
        } else if (!strcmp(a, "--timeout-s")) {
            ok = cli_parse_int(cmd, a, v, 1, 86400, &o->timeout_s);
        } else if (!strcmp(a, "--temperature")) {
            ok = cli_parse_float(cmd, a, v, 0.0, 2.0, &o->temperature);
        } else if (!strcmp(a, "--response-format")) {
            cJSON *rf = cJSON_Parse(v);
            ok = cJSON_IsObject(rf);
            cJSON_Delete(rf);
            if (!ok) fprintf(stderr, "cinder bench-serve: --response-format expects a JSON object\n");
            o->response_format = v;
        }
        if (!ok) return 2;
    }
    if (!o->base_url || !*o->base_url) {
        fprintf(stderr, "cinder bench-serve: --base-url URL is required (see --help)\n");
        return 2;
    }
    return 0;
}

int cmd_bench_serve(int argc, char **argv) {
    bsv_opts_t o = {.chat = true,
                    .concurrency = 1,
                    .requests = 10,
                    .prompt_tokens = 128,
                    .max_tokens = 128,
                    .timeout_s = 600,
                    .warmup = 1};
    bool stop;
    int st = bsv_parse(argc, argv, &o, &stop);
    if (st || stop) return st;

    int status = 1;
    char err[512] = "", url[2048], model[256];
    char *auth = NULL, *json = NULL;
    struct curl_slist *headers = NULL;
    bsv_run_t run = {0};
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "cinder bench-serve: libcurl failed to initialise\n");
        return 1;
    }
    /* "Expect:" stops curl from waiting for a 100-continue before sending a larger body. */
    const char *fixed[] = {"Content-Type: application/json", "Accept: text/event-stream", "Expect:"};
    for (size_t i = 0; i < 3; i++) {
        struct curl_slist *h = curl_slist_append(headers, fixed[i]);
        if (!h) goto nomem;
        headers = h;
    }
    if (o.api_key) {
        size_t n = strlen(o.api_key) + 32;
        if (!(auth = malloc(n))) goto nomem;
        snprintf(auth, n, "Authorization: Bearer %s", o.api_key);
        struct curl_slist *h = curl_slist_append(headers, auth);
        if (!h) goto nomem;
        headers = h;
    }
    if (bsv_url(o.base_url, o.chat ? "/chat/completions" : "/completions", url, sizeof url)) {
        fprintf(stderr, "cinder bench-serve: --base-url is too long\n");
        goto cleanup;
    }
    if (o.model) {
        snprintf(model, sizeof model, "%s", o.model);
    } else if (bsv_first_model(o.base_url, headers, (long)o.timeout_s, model, sizeof model, err, sizeof err)) {
        fprintf(stderr, "cinder bench-serve: %s\n", err);
        goto cleanup;
    }

    uint64_t seed_base = (uint64_t)o.seed * 1000003ull;
    run = (bsv_run_t){.o = &o,
                      .url = url,
                      .model = model,
                      .headers = headers,
                      .n_words = o.prompt_tokens,
                      .max_tokens = o.max_tokens,
                      .seed_base = seed_base,
                      .n = (size_t)o.requests};
    if (o.warmup) {
        /* Warm-up, not counted: a prompt of P/4 words (small, so even a vocabulary that splits every word
         * keeps it within the server's context), then one of the size that first answer suggests; the two
         * prompt_tokens the server reports fit tokens = overhead + per_word * words. */
        long long w1 = o.prompt_tokens / 4 > 0 ? o.prompt_tokens / 4 : 1, w2 = 0;
        int64_t t1 = 0, t2 = 0;
        if ((st = bsv_warmup(&run, w1, seed_base + (uint64_t)o.requests, &t1, err, sizeof err)) == 0 && t1 > 0) {
            w2 = bstat_calibrate_words(o.prompt_tokens, w1, t1, 0, 0);
            if (w2 != w1) st = bsv_warmup(&run, w2, seed_base + (uint64_t)o.requests + 1, &t2, err, sizeof err);
        }
        if (st) {
            fprintf(stderr, "cinder bench-serve: %s\n", err);
            goto cleanup;
        }
        run.n_words = bstat_calibrate_words(o.prompt_tokens, w1, t1, w2, t2);
    }
    if (!(run.reqs = calloc(run.n, sizeof *run.reqs))) goto nomem;
    if (bsv_run(&run, o.concurrency, err, sizeof err)) fprintf(stderr, "cinder bench-serve: %s\n", err);

    bstat_req_t *res = malloc(run.n * sizeof *res);
    if (!res) goto nomem;
    for (size_t i = 0; i < run.n; i++)
        res[i] = run.reqs[i].res;
    bstat_report_t rep;
    double dur = run.duration_s > 0 ? run.duration_s : 1e-9;
    int rc = bstat_report(res, run.n, dur, &rep, err, sizeof err);
    free(res);
    if (rc) {
        fprintf(stderr, "cinder bench-serve: %s\n", err);
        goto cleanup;
    }
    if (o.json || o.json_out) {
        if (!(json = bsv_json(&run, &rep))) goto nomem;
    }
    if (o.json)
        printf("%s\n", json);
    else
        bsv_print_table(stdout, &run, &rep);
    fflush(stdout);
    if (o.json_out) {
        FILE *f = fopen(o.json_out, "w");
        bool bad = !f || fprintf(f, "%s\n", json) < 0;
        if ((f && fclose(f) != 0) || bad) {
            fprintf(stderr, "cinder bench-serve: cannot write %s\n", o.json_out);
            goto cleanup;
        }
    }
    status = rep.n_ok > 0 ? 0 : 1;
    if (!rep.n_ok) fprintf(stderr, "cinder bench-serve: every request failed\n");
    goto cleanup;

nomem:
    fprintf(stderr, "cinder bench-serve: out of memory\n");
cleanup:
    bsv_run_free(&run);
    free(json);
    free(auth);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return status;
}
