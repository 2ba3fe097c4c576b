/*
 * api_fixture.h — shared by tests/unit/test_api*.c: a response sink that records what the api sends, a fake
 * engine backend that records submissions and cancellations (events are then fed by the test through
 * api_event), and the stories260K tokenizer. Everything runs on the test's thread, as the api expects.
 */
#ifndef CINDER_TEST_API_FIXTURE_H
#define CINDER_TEST_API_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_int.h"
#include "err.h"
#include "gguf.h"
#include "tokenizer/tokenizer.h"

#define FX_MODEL   TEST_SHARED_DIR "/models/stories260K.gguf"
#define FX_MAX_REQ 64
#define FX_CREATED 1700000000

/* ---- sink ---- */
typedef struct {
    api_sink_t sink;
    int n_responds;
    int status;
    char *body;
    char hdr_name[8][64], hdr_value[8][128];
    int n_hdrs;
    bool opened, closed;
    char *stream;
    size_t stream_len;
    int n_writes_after_close;
    char xhdr_name[8][64], xhdr_value[8][64]; /* sink->headers */
    int n_xhdrs;
} fx_sink_t;

static inline void fx__respond(api_sink_t *s, int status, const api_header_t *h, size_t nh, const char *body,
                               size_t len) {
    fx_sink_t *k = (fx_sink_t *)s;
    k->n_responds++;
    k->status = status;
    free(k->body);
    k->body = malloc(len + 1);
    memcpy(k->body, body, len);
    k->body[len] = '\0';
    k->n_hdrs = 0;
    for (size_t i = 0; i < nh && i < 8; i++) {
        snprintf(k->hdr_name[i], sizeof k->hdr_name[i], "%s", h[i].name);
        snprintf(k->hdr_value[i], sizeof k->hdr_value[i], "%s", h[i].value);
        k->n_hdrs++;
    }
}
static inline void fx__open(api_sink_t *s) { ((fx_sink_t *)s)->opened = true; }
static inline void fx__write(api_sink_t *s, const char *d, size_t n) {
    fx_sink_t *k = (fx_sink_t *)s;
    if (k->closed) k->n_writes_after_close++;
    k->stream = realloc(k->stream, k->stream_len + n + 1);
    memcpy(k->stream + k->stream_len, d, n);
    k->stream_len += n;
    k->stream[k->stream_len] = '\0';
}
static inline void fx__close(api_sink_t *s) { ((fx_sink_t *)s)->closed = true; }
static inline void fx__headers(api_sink_t *s, const api_header_t *h, size_t nh) {
    fx_sink_t *k = (fx_sink_t *)s;
    k->n_xhdrs = 0;
    for (size_t i = 0; i < nh && i < 8; i++) {
        snprintf(k->xhdr_name[i], sizeof k->xhdr_name[i], "%s", h[i].name);
        snprintf(k->xhdr_value[i], sizeof k->xhdr_value[i], "%s", h[i].value);
        k->n_xhdrs++;
    }
}

static inline void fx_sink_init(fx_sink_t *k) {
    memset(k, 0, sizeof *k);
    k->sink.respond = fx__respond;
    k->sink.stream_open = fx__open;
    k->sink.stream_write = fx__write;
    k->sink.stream_close = fx__close;
    k->sink.headers = fx__headers;
}

static inline void fx_sink_free(fx_sink_t *k) {
    free(k->body);
    free(k->stream);
    memset(k, 0, sizeof *k);
}

/* ---- fake backend ---- */
typedef struct {
    engine_req_t req[FX_MAX_REQ]; /* prompt and logit_bias point at the copies below */
    int32_t *prompt[FX_MAX_REQ];
    sampler_bias_t bias[FX_MAX_REQ][16];
    uint64_t id[FX_MAX_REQ];
    bool ended[FX_MAX_REQ]; /* the test delivered its END */
    int n;
    uint64_t cancelled[FX_MAX_REQ * 4];
    int n_cancel;
    int fail_at; /* submission index that fails (-1: none) */
    int fail_rc;
} fx_back_t;

static inline int fx__submit(void *self, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    fx_back_t *b = self;
    if (b->n == b->fail_at) return err_set(err, err_len, b->fail_rc, "fake failure %d", b->n);
    if (b->n >= FX_MAX_REQ) return err_set(err, err_len, ERR_FULL, "fake queue full");
    int i = b->n++;
    b->req[i] = *r;
    b->prompt[i] = malloc(r->n_prompt * sizeof(int32_t));
    memcpy(b->prompt[i], r->prompt, r->n_prompt * sizeof(int32_t));
    b->req[i].prompt = b->prompt[i];
    size_t nb = r->sampling.n_logit_bias < 16 ? r->sampling.n_logit_bias : 16;
    if (nb) memcpy(b->bias[i], r->sampling.logit_bias, nb * sizeof(sampler_bias_t));
    b->req[i].sampling.logit_bias = b->bias[i];
    b->id[i] = 100 + (uint64_t)i;
    *id = b->id[i];
    return 0;
}

static inline int fx__cancel(void *self, uint64_t id) {
    fx_back_t *b = self;
    if (b->n_cancel < FX_MAX_REQ * 4) b->cancelled[b->n_cancel++] = id;
    return 0;
}

static inline bool fx_was_cancelled(const fx_back_t *b, uint64_t id) {
    for (int i = 0; i < b->n_cancel; i++)
        if (b->cancelled[i] == id) return true;
    return false;
}

static inline void fx_back_free(fx_back_t *b) {
    for (int i = 0; i < b->n; i++)
        free(b->prompt[i]);
    memset(b, 0, sizeof *b);
}

/* ---- the whole fixture ---- */
typedef struct {
    gguf_t *g;
    tok_t *tok;
    api_ctx_t *api;
    fx_back_t back;
    fx_sink_t sink;
    api_call_t *call;
} fx_t;

static int32_t fx_n_ctx = 128;
static bool fx_embedding;     /* the next fx_new attaches the model as an embedding model ... */
static int32_t fx_n_embd = 4; /* ... of this width (test_api_embeddings.c) */
static const api_key_limit_t *fx_key_limits; /* per-key quotas of the next fx_new (test_api_quota.c) */
static size_t fx_n_key_limits;
static const char *fx_responses_store; /* the responses store of the next fx_new (test_api_responses.c) */
static int64_t fx_responses_max_bytes; /* and its size limit (0 = none) */

/* Creates a context (with keys when n_keys > 0) attached to the stories260K tokenizer and the fake backend,
   with a chat template (NULL: ChatML); *attach_rc and err get api_attach's result (NULL: it must succeed). */
static inline fx_t *fx_new_tmpl(const char *const *keys, size_t n_keys, const char *tmpl, bool strict, int *attach_rc,
                                char *attach_err) {
    fx_t *f = calloc(1, sizeof *f);
    char err[256];
    assert_int_equal(gguf_open(FX_MODEL, &f->g, err, sizeof err), 0);
    assert_int_equal(tok_load(f->g, &f->tok, err, sizeof err), 0);
    api_params_t p = {.model_id = "stories260K",
                      .created = 1600000000,
                      .api_keys = keys,
                      .n_api_keys = n_keys,
                      .system_fingerprint = "fp_test",
                      .seed = 42,
                      .fixed_created = FX_CREATED,
                      .key_limits = fx_key_limits,
                      .n_key_limits = fx_n_key_limits,
                      .responses_store = fx_responses_store,
                      .responses_max_bytes = fx_responses_max_bytes};
    assert_int_equal(api_create(&p, &f->api, err, sizeof err), 0);
    f->back.fail_at = -1;
    api_model_t m = {.tok = f->tok,
                     .n_ctx = fx_n_ctx,
                     .chat_template = tmpl,
                     .strict_template = strict,
                     .embedding = fx_embedding,
                     .n_embd = fx_n_embd,
                     .backend = {.submit = fx__submit, .cancel = fx__cancel, .self = &f->back}};
    int rc = api_attach(f->api, &m, err, sizeof err);
    fx_sink_init(&f->sink);
    if (attach_rc) {
        *attach_rc = rc;
        strcpy(attach_err, err);
        return f;
    }
    if (rc) fprintf(stderr, "api_attach: %s\n", err);
    assert_int_equal(rc, 0);
    return f;
}

static inline fx_t *fx_new(const char *const *keys, size_t n_keys) {
    return fx_new_tmpl(keys, n_keys, NULL, false, NULL, NULL);
}

static inline void fx_end(fx_t *f, int i, engine_finish_t finish, const char *tail);

/* Releases the last call, ends every request the test left running (as the engine does), frees it all. */
static inline void fx_free(fx_t *f) {
    if (f->call) api_call_release(f->call);
    f->call = NULL;
    for (int i = 0; i < f->back.n; i++)
        if (!f->back.ended[i]) fx_end(f, i, ENGINE_FINISH_CANCELLED, NULL);
    assert_int_equal(api_live_calls(f->api), 0);
    api_free(f->api);
    tok_free(f->tok);
    gguf_close(f->g);
    fx_back_free(&f->back);
    fx_sink_free(&f->sink);
    free(f);
}

/* Sends one request; the response (if immediate) is in f->sink, a started call in f->call. */
static inline void fx_request(fx_t *f, const char *method, const char *path, const char *auth, const char *body) {
    fx_sink_free(&f->sink);
    fx_sink_init(&f->sink);
    if (f->call) {
        api_call_release(f->call);
        f->call = NULL;
    }
    api_request_t r = {.method = method,
                       .path = path,
                       .authorization = auth,
                       .body = body ? body : "",
                       .body_len = body ? strlen(body) : 0};
    api_handle(f->api, &r, &f->sink.sink, &f->call);
}

static inline void fx_post(fx_t *f, const char *path, const char *body) { fx_request(f, "POST", path, NULL, body); }

/* Feeds a TOKEN event with text (and logprob data when lp != NULL) to submission i. */
static inline void fx_token(fx_t *f, int i, int32_t token, const char *text, float logprob, int n_top,
                            const int32_t *top_ids, const float *top_lp) {
    engine_event_t ev = {.type = ENGINE_EV_TOKEN,
                         .id = f->back.id[i],
                         .token = token,
                         .text = text,
                         .text_len = strlen(text),
                         .logprob = logprob,
                         .n_top = n_top,
                         .top_ids = top_ids,
                         .top_logprobs = top_lp};
    api_event(f->back.req[i].user, &ev);
}

static inline void fx_end(fx_t *f, int i, engine_finish_t finish, const char *tail) {
    engine_event_t ev = {.type = ENGINE_EV_END,
                         .id = f->back.id[i],
                         .finish = finish,
                         .text = tail ? tail : "",
                         .text_len = tail ? strlen(tail) : 0,
                         .n_prompt = (int32_t)f->back.req[i].n_prompt,
                         .err = finish == ENGINE_FINISH_ERROR ? ERR_NOMEM : 0,
                         .err_msg = finish == ENGINE_FINISH_ERROR ? "fake failure" : NULL};
    f->back.ended[i] = true;
    api_event(f->back.req[i].user, &ev);
}

/* The token id whose vocab text is exactly s (e.g. "<0xE2>", "▁the"), or -1. */
static inline int32_t fx_token_id(const fx_t *f, const char *s) {
    for (int32_t i = 0; i < tok_n_vocab(f->tok); i++)
        if (!strcmp(tok_text(f->tok, i), s)) return i;
    return -1;
}

/* Replaces every "$ID" in want with id and compares with got. */
static inline void fx_expect(const char *got, const char *want, const char *id) {
    char buf[16384];
    size_t k = 0;
    for (const char *p = want; *p && k + 64 < sizeof buf; p++) {
        if (!strncmp(p, "$ID", 3)) {
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s", id);
            p += 2;
        } else {
            buf[k++] = *p;
        }
    }
    buf[k] = '\0';
    if (strcmp(got ? got : "(null)", buf)) {
        fprintf(stderr, "got:  %s\nwant: %s\n", got ? got : "(null)", buf);
        fail();
    }
}

/* The value of "id" in a JSON text (the first occurrence), copied into out. */
static inline void fx_id_of(const char *json, char *out, size_t cap) {
    const char *p = strstr(json ? json : "", "\"id\":\"");
    out[0] = '\0';
    if (!p) return;
    p += 6;
    size_t n = strcspn(p, "\"");
    snprintf(out, cap, "%.*s", (int)n, p);
}

#endif
