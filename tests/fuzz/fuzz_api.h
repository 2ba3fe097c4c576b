/*
 * fuzz_api.h — shared by the api fuzz targets (fuzz_request.c, fuzz_http.c): an api context for "stories260K"
 * (the shared model's tokenizer, ChatML; optionally with an API key) over a fake engine backend that records
 * submissions and cancellations, and a response sink that checks the api's side of the sink contract (one
 * response or one stream, nothing after the end) and aborts when it is broken. Header-only, static functions.
 */
#ifndef CINDER_FUZZ_API_H
#define CINDER_FUZZ_API_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "err.h"
#include "gguf.h"
#include "tokenizer/tokenizer.h"

#ifndef TEST_SHARED_DIR
#define TEST_SHARED_DIR "../shared"
#endif

#define FZ_MAX_REQ 256

/* ---- fake backend: engine requests as the api submitted them ---- */
typedef struct {
    uint64_t id[FZ_MAX_REQ];
    void *user[FZ_MAX_REQ];
    int32_t max_tokens[FZ_MAX_REQ];
    bool logprobs[FZ_MAX_REQ];
    int n_top[FZ_MAX_REQ];
    bool ended[FZ_MAX_REQ];
    bool cancelled[FZ_MAX_REQ];
    int n;
    uint64_t next_id;
} fz_back_t;

static int fz__submit(void *self, const engine_req_t *r, uint64_t *id, char *err, size_t err_len) {
    fz_back_t *b = self;
    if (!r->prompt || r->n_prompt < 1 || r->max_tokens < 1 || r->on_event) abort(); /* the api's contract */
    if (b->n >= FZ_MAX_REQ) return err_set(err, err_len, ERR_FULL, "fake queue full");
    const int i = b->n++;
    b->id[i] = ++b->next_id;
    b->user[i] = r->user;
    b->max_tokens[i] = r->max_tokens;
    b->logprobs[i] = r->logprobs;
    b->n_top[i] = r->n_top_logprobs;
    b->ended[i] = b->cancelled[i] = false;
    *id = b->id[i];
    return 0;
}

static int fz__cancel(void *self, uint64_t id) {
    fz_back_t *b = self;
    for (int i = 0; i < b->n; i++)
        if (b->id[i] == id && !b->ended[i]) {
            b->cancelled[i] = true;
            return 0;
        }
    return ERR_NOTFOUND;
}

/* ---- sink ---- */
typedef struct {
    api_sink_t sink;
    int n_responds;
    bool opened, closed;
    size_t n_bytes;
} fz_sink_t;

static void fz__respond(api_sink_t *s, int status, const api_header_t *h, size_t nh, const char *body, size_t len) {
    fz_sink_t *k = (fz_sink_t *)s;
    if (k->n_responds || k->opened || status < 100 || status > 599 || (len && !body)) abort();
    for (size_t i = 0; i < nh; i++)
        if (!h[i].name || !h[i].value) abort();
    k->n_responds++;
    k->n_bytes += len;
}
static void fz__open(api_sink_t *s) {
    fz_sink_t *k = (fz_sink_t *)s;
    if (k->n_responds || k->opened) abort();
    k->opened = true;
}
static void fz__write(api_sink_t *s, const char *d, size_t n) {
    fz_sink_t *k = (fz_sink_t *)s;
    if (!k->opened || k->closed || (n && !d)) abort();
    k->n_bytes += n;
}
static void fz__close(api_sink_t *s) {
    fz_sink_t *k = (fz_sink_t *)s;
    if (!k->opened || k->closed) abort();
    k->closed = true;
}
static void fz_sink_init(fz_sink_t *k) {
    memset(k, 0, sizeof *k);
    k->sink.respond = fz__respond;
    k->sink.stream_open = fz__open;
    k->sink.stream_write = fz__write;
    k->sink.stream_close = fz__close;
}

/* ---- the context ---- */
typedef struct {
    gguf_t *g;
    tok_t *tok;
    api_ctx_t *api[2]; /* [0] open, [1] with the key "sk-fuzz" */
    fz_back_t back;
} fz_api_t;

static fz_api_t fz_api;

/* (Re)creates context k (after api_shutdown, which is for good); aborts on failure. */
static void fz_api_ctx(int k) {
    char err[512];
    static const char *const keys[] = {"sk-fuzz"};
    api_free(fz_api.api[k]);
    api_params_t p = {.model_id = "stories260K",
                      .created = 1600000000,
                      .api_keys = k ? keys : NULL,
                      .n_api_keys = k ? 1 : 0,
                      .seed = 42,
                      .fixed_created = 1700000000,
                      .max_n = 8};
    if (api_create(&p, &fz_api.api[k], err, sizeof err)) abort();
    api_model_t m = {.tok = fz_api.tok,
                     .n_ctx = 256,
                     .backend = {.submit = fz__submit, .cancel = fz__cancel, .self = &fz_api.back}};
    if (api_attach(fz_api.api[k], &m, err, sizeof err)) abort();
}

/* Loads the tokenizer and creates both contexts (LLVMFuzzerInitialize); aborts on failure. */
static void fz_api_init(void) {
    char err[512];
    if (gguf_open(TEST_SHARED_DIR "/models/stories260K.gguf", &fz_api.g, err, sizeof err) ||
        tok_load(fz_api.g, &fz_api.tok, err, sizeof err)) {
        fprintf(stderr, "fuzz: %s\n", err);
        abort();
    }
    fz_api_ctx(0);
    fz_api_ctx(1);
}

#endif
