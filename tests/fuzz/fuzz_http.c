/*
 * fuzz_http.c — libFuzzer target for the HTTP layer as the api sees it: api_handle over a request struct (method,
 * path, Authorization, body) with a response sink, then a script of engine events for the call it started (tokens
 * with logprobs, ends with each finish reason, errors, cancellations), release at any point, and shutdown.
 *
 * Input: up to the first NUL, "METHOD PATH[ AUTH]" where AUTH runs to the end of that part (so it may hold spaces);
 * up to the second NUL, the body; the remaining bytes are the script, two bytes a step (see fz__step). A context
 * with an API key is used when the method's first byte is odd. Whatever the script does, every engine request
 * ends (the fake engine ends those left running, as engine_free would), the call is released once, and
 * api_live_calls must then be 0; the sink aborts on a broken contract (two responses, a write after close).
 * Seeds and regressions: tests/fuzz/corpus/http/; dictionary tests/fuzz/request.dict. Build: `make fuzz`.
 */
#include "fuzz_api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_api_init();
    return 0;
}

/* Delivers an END for request i (once). */
static void fz__end(int i, engine_finish_t finish, int err) {
    fz_back_t *b = &fz_api.back;
    if (b->ended[i]) return;
    b->ended[i] = true;
    engine_event_t ev = {.type = ENGINE_EV_END, .id = b->id[i], .finish = finish, .err = err};
    if (finish == ENGINE_FINISH_ERROR) ev.err_msg = "the model computed non-finite logits";
    static const char tail[] = "\xe2\x82"; /* an incomplete UTF-8 tail, as a flushed stream may hold */
    ev.text = tail;
    ev.text_len = finish == ENGINE_FINISH_STOP ? 2 : 0;
    api_event(b->user[i], &ev);
}

/* Ends every cancelled request, as the engine does at its next step. */
static void fz__reap(void) {
    for (int i = 0; i < fz_api.back.n; i++)
        if (fz_api.back.cancelled[i]) fz__end(i, ENGINE_FINISH_CANCELLED, 0);
}

/* One script step: op picks the request (op >> 3) and what happens (op & 7); arg is its parameter. */
static void fz__step(uint8_t op, uint8_t arg, api_call_t **call) {
    fz_back_t *b = &fz_api.back;
    if (b->n == 0) return;
    const int i = (op >> 3) % b->n;
    const int32_t n_vocab = tok_n_vocab(fz_api.tok);
    switch (op & 7) {
    case 0: case 1: case 2: { /* a token */
        if (b->ended[i]) return;
        int32_t top_ids[ENGINE_MAX_TOP_LOGPROBS];
        float top_lp[ENGINE_MAX_TOP_LOGPROBS];
        for (int k = 0; k < ENGINE_MAX_TOP_LOGPROBS; k++) {
            top_ids[k] = (arg * 7 + k * 13) % n_vocab;
            top_lp[k] = -0.5f * (float)k;
        }
        const int32_t tok = (int32_t)((arg * 3 + op) % n_vocab);
        char text[8];
        size_t len = (size_t)(arg % 5);
        for (size_t k = 0; k < len; k++)
            text[k] = (char)(k == 0 && (arg & 0x80) ? 0xc3 : 'a' + (arg + k) % 26); /* sometimes a split character */
        engine_event_t ev = {.type = ENGINE_EV_TOKEN, .id = b->id[i], .token = tok, .text = text, .text_len = len};
        if (b->logprobs[i]) {
            ev.logprob = -(float)arg / 16.0f;
            ev.n_top = b->n_top[i];
            ev.top_ids = top_ids;
            ev.top_logprobs = top_lp;
        }
        api_event(b->user[i], &ev);
        break;
    }
    case 3: fz__end(i, ENGINE_FINISH_STOP, 0); break;
    case 4: fz__end(i, ENGINE_FINISH_LENGTH, 0); break;
    case 5: fz__end(i, arg & 1 ? ENGINE_FINISH_ERROR : ENGINE_FINISH_CANCELLED, arg & 1 ? ERR_NUMERIC : 0); break;
    case 6: /* the client goes away */
        if (*call) api_call_release(*call);
        *call = NULL;
        break;
    case 7: /* tokens for every running request */
        for (int k = 0; k < b->n; k++) fz__step((uint8_t)(k << 3), arg, call);
        break;
    }
    fz__reap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul1 = memchr(data, 0, size);
    const size_t head_len = nul1 ? (size_t)(nul1 - data) : size;
    const uint8_t *body = nul1 ? nul1 + 1 : data + size;
    const size_t rest = size - (size_t)(body - data);
    const uint8_t *nul2 = memchr(body, 0, rest);
    const size_t body_len = nul2 ? (size_t)(nul2 - body) : rest;
    const uint8_t *script = nul2 ? nul2 + 1 : body + body_len;
    const size_t script_len = size - (size_t)(script - data);

    char *head = malloc(head_len + 1);
    if (!head) return 0;
    memcpy(head, data, head_len);
    head[head_len] = 0;
    char *method = head, *path = strchr(head, ' '), *auth = NULL;
    if (path) {
        *path++ = 0;
        auth = strchr(path, ' ');
        if (auth) *auth++ = 0;
    } else {
        path = "/";
    }
    const int k = (uint8_t)method[0] & 1;
    api_ctx_t *c = fz_api.api[k];
    memset(&fz_api.back, 0, sizeof fz_api.back);
    fz_sink_t sink;
    fz_sink_init(&sink);
    api_request_t req = {
        .method = method, .path = path, .authorization = auth, .body = (const char *)body, .body_len = body_len};
    api_call_t *call = NULL;
    if (api_handle(c, &req, &sink.sink, &call) != 0) abort();
    if (!call && !sink.n_responds) abort(); /* no call started: it must have answered */
    for (size_t k = 0; k + 1 < script_len; k += 2)
        fz__step(script[k], script[k + 1], &call);
    const bool shutdown = script_len % 2 && script[script_len - 1] & 1; /* an odd tail: shut down, call live */
    if (shutdown) {
        api_shutdown(c);
        fz__reap();
    }
    if (call) api_call_release(call);
    for (int i = 0; i < fz_api.back.n; i++) /* what is still running ends, as engine_free ends it */
        fz__end(i, ENGINE_FINISH_CANCELLED, 0);
    if (api_live_calls(c) != 0) abort();
    if (shutdown) fz_api_ctx(k);
    free(head);
    return 0;
}
