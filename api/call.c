/*
 * call.c — one generating request: its engine submissions, the events that come back, stop strings, and the
 * moment the response is complete.
 *
 * A call has one gen per choice (n per prompt). Events arrive per gen, in order, on the loop thread:
 *   TOKEN  count it, keep its logprobs, append its text, then look for a stop string starting at or after the
 *          released offset. A match cuts the text there, decides finish_reason "stop" and cancels the engine
 *          request (its END still comes and is only counted). Otherwise everything but the tail that could
 *          still become a stop string is released (streamed).
 *   END    append the detokenizer's tail, look for a stop string once more, then release everything; the
 *          finish comes from the engine (stop = end-of-generation token, length = max_tokens or context).
 * When every gen is done the response is complete: one JSON body, or the stream's usage chunk and [DONE].
 * The call is freed when the HTTP side has released it and every submitted engine request has delivered END.
 * Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "err.h"

/* ---- small buffers ---------------------------------------------------------------------------------------- */

static int call__reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return ERR_NOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

static int call__append(api_gen_t *g, const char *s, size_t n) {
    if (n == 0) return 0;
    if (call__reserve(&g->text, &g->cap, g->len + n + 1)) return ERR_NOMEM;
    memcpy(g->text + g->len, s, n);
    g->len += n;
    g->text[g->len] = '\0';
    return 0;
}

/* Copies a token's piece into g->pieces; sets *off and *n. */
static int call__piece(api_gen_t *g, const tok_t *tok, int32_t id, size_t *off, uint32_t *n) {
    char buf[256];
    size_t len = 0;
    if (tok_piece(tok, id, false, buf, sizeof buf, &len) != 0) len = len > sizeof buf ? sizeof buf : 0;
    if (call__reserve(&g->pieces, &g->pieces_cap, g->pieces_len + len + 1)) return ERR_NOMEM;
    memcpy(g->pieces + g->pieces_len, buf, len);
    *off = g->pieces_len;
    *n = (uint32_t)len;
    g->pieces_len += len;
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------------------------------- */

static void call__free(api_call_t *call) {
    if (call->ctx && call->quota_key >= 0) { /* what the call reserved and did not use goes back to the quota */
        int64_t used = call->prompt_tokens;
        for (int32_t i = 0; i < call->n_gens; i++)
            used += call->gens[i].n_tokens;
        api__quota_refund(call->ctx, call->quota_key, call->quota_reserved - used);
    }
    if (call->ctx) api__live_remove(call);
    for (int32_t i = 0; i < call->n_gens; i++) {
        free(call->gens[i].text);
        free(call->gens[i].lp);
        free(call->gens[i].pieces);
    }
    free(call->gens);
    free(call->model);
    free(call->fingerprint);
    api_stop_clear(&call->stop);
    api__spec_free(&call->spec);
    free(call);
}

static void call__maybe_free(api_call_t *call) {
    if (call->released && call->n_running == 0) call__free(call);
}

static void call__cancel_running(api_call_t *call) {
    for (int32_t i = 0; i < call->n_gens; i++)
        if (call->gens[i].running) call->backend.cancel(call->backend.self, call->gens[i].id);
}

void api_call_pause(api_call_t *call, bool paused) {
    if (!call || call->released || !call->backend.pause || call->paused == paused) return;
    call->paused = paused;
    for (int32_t i = 0; i < call->n_gens; i++)
        if (call->gens[i].running) call->backend.pause(call->backend.self, call->gens[i].id, paused);
}

void api__call_cancel(api_call_t *call) {
    call->cancelled = true;
    call__cancel_running(call);
}

/* ---- output ----------------------------------------------------------------------------------------------- */

static void call__write(api_call_t *call, char *frame, size_t n) {
    if (!frame) {
        call->failed = true; /* out of memory while rendering: end the stream with an error */
        snprintf(call->fail_msg, sizeof call->fail_msg, "out of memory");
        return;
    }
    if (call->sink) call->sink->stream_write(call->sink, frame, n);
    free(frame);
}

/* Streams g's text from g->released up to `to`, with the logprob entries that lie inside it. `last` releases
   every remaining entry (the choice is over). */
static void call__release(api_call_t *call, api_gen_t *g, size_t to, bool last) {
    if (to < g->released) to = g->released;
    size_t lp_to = g->lp_sent;
    while (lp_to < g->n_lp) {
        const api_lp_t *e = &g->lp[lp_to];
        /* the last release keeps tokens that reached into the returned text; others need their whole text out */
        bool in = last ? e->start < to || (e->start == e->end && e->start <= to) : e->end <= to;
        if (!in) break;
        lp_to++;
    }
    if (call->stream && !call->finished && (to > g->released || lp_to > g->lp_sent)) {
        size_t n = 0;
        char *f = call->kind == API_RESP
                      ? api__resp_delta(call, g, g->released, to, &n)
                      : api__render_chunk(call, g, false, g->released, to, g->lp_sent, lp_to, NULL, &n);
        call__write(call, f, n);
    }
    g->released = to;
    g->lp_sent = lp_to;
    if (last) g->n_lp = lp_to; /* entries past a stop string are not reported */
}

/* Ends the stream with OpenAI's SSE error event. */
static void call__stream_error(api_call_t *call, int status, const char *type, const char *msg) {
    api_err_t e;
    api_err_set(&e, 0, status, type, NULL, NULL, "%s", msg);
    size_t n = 0;
    char *json = api_err_json(&e, &n);
    if (call->sink && json) {
        call->sink->stream_write(call->sink, "event: error\ndata: ", 19);
        call->sink->stream_write(call->sink, json, n);
        call->sink->stream_write(call->sink, "\n\n", 2);
    }
    free(json);
}

/* Every gen is done (or the call failed): complete the response. */
static void call__complete(api_call_t *call) {
    if (call->finished) return;
    call->finished = true;
    if (!call->sink) return;
    if (call->kind == API_RESP) { /* /v1/responses: its own terminal events, and the store */
        api__resp_finish(call);
        return;
    }
    if (call->failed || call->cancelled) {
        const char *msg = call->failed ? call->fail_msg : "The server is shutting down; the request was cancelled.";
        int status = call->failed ? 500 : 503;
        if (call->stream) {
            call__stream_error(call, status, "server_error", msg);
            call->sink->stream_close(call->sink);
        } else {
            api_err_t e;
            api_err_set(&e, 0, status, "server_error", NULL, NULL, "%s", msg);
            api__send_error(call->sink, &e);
        }
        return;
    }
    if (call->stream) {
        if (call->include_usage) {
            size_t n = 0;
            char *f = api__render_usage_chunk(call, &n);
            call__write(call, f, n);
        }
        call->sink->stream_write(call->sink, "data: [DONE]\n\n", 14);
        call->sink->stream_close(call->sink);
        return;
    }
    size_t n = 0;
    char *body = api__render_response(call, &n);
    if (!body) {
        api_err_t e;
        api_err_set(&e, 0, 500, "server_error", NULL, NULL, "Out of memory while building the response.");
        api__send_error(call->sink, &e);
        return;
    }
    call->sink->respond(call->sink, 200, NULL, 0, body, n);
    free(body);
}

/* Marks g done with a finish reason, sends its finish chunk, and completes the call when it was the last. */
static void call__done(api_call_t *call, api_gen_t *g, const char *finish) {
    if (g->done) return;
    g->done = true;
    g->finish = finish;
    call->n_done++;
    if (call->stream && !call->finished && finish && !call->failed && !call->cancelled && call->kind != API_RESP) {
        size_t n = 0;
        char *f = api__render_chunk(call, g, false, g->len, g->len, 0, 0, finish, &n);
        call__write(call, f, n);
    }
    if (call->n_done == call->n_gens || call->failed) call__complete(call);
}

/* Looks for a stop string from g->released; on a match cuts the text and ends g. Otherwise releases what can no
   longer become part of a match. Returns true when g ended. */
static bool call__scan(api_call_t *call, api_gen_t *g) {
    /* no text yet (only empty pieces so far): g->text is NULL, and NULL + 0 is undefined (found by fuzz_http) */
    long p = call->stop.n && g->text ? api_stop_find(&call->stop, g->text, g->len, g->released) : -1;
    if (p >= 0) {
        g->len = (size_t)p;
        if (g->text) g->text[g->len] = '\0';
        call__release(call, g, g->len, true);
        if (g->running) call->backend.cancel(call->backend.self, g->id);
        call__done(call, g, "stop");
        return true;
    }
    size_t hold =
        call->stop.n && g->text ? api_stop_holdback(&call->stop, g->text + g->released, g->len - g->released) : 0;
    call__release(call, g, g->len - hold, false);
    return false;
}

static void call__on_token(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    if (g->done || call->finished || call->cancelled) return;
    g->n_tokens++;
    g->t_last_ns = api__now_ns();
    if (!g->t_first_ns) g->t_first_ns = g->t_last_ns;
    size_t start = g->len;
    int rc = call__append(g, ev->text, ev->text_len);
    if (!rc && call->logprobs) {
        if (g->n_lp == g->cap_lp) {
            size_t cap = g->cap_lp ? g->cap_lp * 2 : 64;
            api_lp_t *lp = realloc(g->lp, cap * sizeof *lp);
            if (!lp)
                rc = ERR_NOMEM;
            else
                g->lp = lp, g->cap_lp = cap;
        }
        if (!rc) {
            api_lp_t *e = &g->lp[g->n_lp];
            memset(e, 0, sizeof *e);
            e->logprob = ev->logprob;
            e->start = start;
            e->end = g->len;
            rc = call__piece(g, call->tok, ev->token, &e->piece, &e->piece_len);
            int k = ev->n_top < call->top_logprobs ? ev->n_top : call->top_logprobs;
            for (int i = 0; i < k && !rc; i++) {
                rc = call__piece(g, call->tok, ev->top_ids[i], &e->top_piece[i], &e->top_len[i]);
                e->top_lp[i] = ev->top_logprobs[i];
                e->n_top = i + 1;
            }
            if (!rc) g->n_lp++;
        }
    }
    if (rc) {
        call->failed = true;
        snprintf(call->fail_msg, sizeof call->fail_msg, "Out of memory while generating.");
        call__cancel_running(call);
        call__complete(call);
        return;
    }
    call__scan(call, g);
}

static void call__on_end(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    api__mx_gen_end(call, g, ev);
    g->n_cached = ev->n_cached;
    g->running = false;
    call->n_running--;
    if (g->done || call->finished) return;
    if (ev->finish == ENGINE_FINISH_ERROR) {
        call->failed = true;
        snprintf(call->fail_msg, sizeof call->fail_msg, "Generation failed: %s (%s).",
                 ev->err_msg ? ev->err_msg : "engine error", err_str(ev->err));
        call__cancel_running(call);
        call__done(call, g, NULL);
        return;
    }
    if (ev->finish == ENGINE_FINISH_CANCELLED || call->cancelled) {
        call->cancelled = true;
        call__cancel_running(call);
        call__done(call, g, NULL);
        call__complete(call);
        return;
    }
    if (call__append(g, ev->text, ev->text_len) == 0 && call__scan(call, g)) return;
    call__release(call, g, g->len, true);
    call__done(call, g, ev->finish == ENGINE_FINISH_LENGTH ? "length" : "stop");
}

void api_event(void *user, const engine_event_t *ev) {
    api_gen_t *g = user;
    api_call_t *call = g->call;
    if (ev->type == ENGINE_EV_TOKEN)
        call__on_token(call, g, ev);
    else if (ev->type == ENGINE_EV_END)
        call__on_end(call, g, ev);
    call__maybe_free(call);
}

void api_call_info(const api_call_t *call, api_call_info_t *out) {
    memset(out, 0, sizeof *out);
    out->model = call->model;
    out->prompt_tokens = call->prompt_tokens;
    out->ttft_ms = -1;
    for (int32_t i = 0; i < call->n_gens; i++) {
        const api_gen_t *g = &call->gens[i];
        out->completion_tokens += g->n_tokens;
        double ms = g->t_first_ns ? (double)(g->t_first_ns - call->t0_ns) / 1e6 : -1;
        if (ms >= 0 && (out->ttft_ms < 0 || ms < out->ttft_ms)) out->ttft_ms = ms;
    }
}

void api_call_release(api_call_t *call) {
    if (!call || call->released) return;
    call->released = true;
    call->sink = NULL;
    call__cancel_running(call);
    call__maybe_free(call);
}

/* ---- start ------------------------------------------------------------------------------------------------ */

void api__make_id(api_ctx_t *c, const char *prefix, char *out, size_t cap) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t k = (size_t)snprintf(out, cap, "%s", prefix);
    uint64_t r = 0;
    for (int i = 0; i < 29 && k + 1 < cap; i++) {
        if (i % 10 == 0) r = api__rand(c);
        out[k++] = al[r % 62];
        r /= 62;
    }
    out[k] = '\0';
}

/* Maps an engine_submit failure to OpenAI's error. */
static int call__submit_error(int rc, const char *msg, const api_spec_t *spec, api_err_t *e) {
    switch (rc) {
    case ERR_FULL:
        return api_err_set(e, rc, 503, "server_error", "server_overloaded", NULL,
                           "The server is busy (%s). Please retry shortly.", msg);
    case ERR_CONTEXT:
        return api_err_set(e, rc, 400, "invalid_request_error", "context_length_exceeded",
                           spec->kind == API_CHAT   ? "messages"
                           : spec->kind == API_RESP ? "input"
                                                    : "prompt",
                           "%s", msg);
    case ERR_STATE: return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is shutting down.");
    case ERR_NOMEM: return api_err_set(e, rc, 503, "server_error", NULL, NULL, "The server is out of memory.");
    default: return api_err_set(e, rc, 400, "invalid_request_error", "invalid_value", NULL, "%s", msg);
    }
}

int api__call_start(api_ctx_t *c, api_spec_t *spec, api_sink_t *sink, api_call_t **out, api_err_t *e) {
    *out = NULL;
    api_call_t *call = calloc(1, sizeof *call);
    int32_t n_gens = (int32_t)spec->n_prompts * spec->n;
    if (!call) return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    api_slot_t *m = spec->slot;
    call->gens = calloc((size_t)n_gens, sizeof *call->gens);
    call->model = strdup(m->id);
    call->fingerprint = strdup(m->fingerprint);
    if (!call->gens || !call->model || !call->fingerprint) {
        free(call->gens);
        free(call->model);
        free(call->fingerprint);
        free(call);
        return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    }
    /* the call takes over the spec (prompts, bias, stop strings) */
    call->spec = *spec;
    memset(spec, 0, sizeof *spec);
    call->stop = call->spec.stop;
    memset(&call->spec.stop, 0, sizeof call->spec.stop);
    call->ctx = c;
    call->slot = m;
    call->t0_ns = call->spec.t0_ns ? call->spec.t0_ns : api__now_ns();
    call->backend = m->backend;
    call->tok = m->tok;
    call->sink = sink;
    call->kind = call->spec.kind;
    call->stream = call->spec.stream;
    call->include_usage = call->spec.include_usage;
    call->logprobs = call->spec.logprobs;
    call->top_logprobs = call->spec.top_logprobs;
    call->echo = call->spec.echo;
    call->created = c->fixed_created ? c->fixed_created : (int64_t)time(NULL);
    api__make_id(c,
                 call->kind == API_CHAT   ? "chatcmpl-"
                 : call->kind == API_RESP ? "resp_"
                                          : "cmpl-",
                 call->id, sizeof call->id);
    call->n_gens = n_gens;
    call->quota_key = -1;
    api__live_add(c, call);

    uint64_t base_seed = call->spec.sp.seed;
    int rc = 0;
    for (size_t p = 0; p < call->spec.n_prompts; p++)
        call->prompt_tokens += (int32_t)call->spec.prompts[p].n;
    for (int32_t i = 0; i < n_gens && !rc; i++) {
        api_gen_t *g = &call->gens[i];
        const api_prompt_t *pr = &call->spec.prompts[i / call->spec.n];
        g->call = call;
        g->index = i;
        g->prompt = pr;
        engine_req_t r = {0};
        r.prompt = pr->ids;
        r.n_prompt = pr->n;
        r.max_tokens = (int32_t)(call->spec.max_tokens ? call->spec.max_tokens : m->n_ctx - (int64_t)pr->n);
        r.sampling = call->spec.sp;
        r.sampling.seed = call->spec.seed_given ? base_seed + (uint64_t)i : api__rand(c);
        r.logprobs = call->logprobs;
        r.n_top_logprobs = call->top_logprobs;
        r.grammar = call->spec.grammar;
        r.user = g;
        char msg[256] = "";
        rc = call->backend.submit(call->backend.self, &r, &g->id, msg, sizeof msg);
        if (rc) {
            call__submit_error(rc, msg, &call->spec, e);
            break;
        }
        g->running = true;
        call->n_running++;
    }
    if (rc) { /* what was submitted is cancelled; the call lives on until their END events */
        call->finished = true;
        call->sink = NULL;
        call->released = true;
        call__cancel_running(call);
        call__maybe_free(call);
        return rc;
    }
    if (call->stream && call->kind == API_RESP) {
        api__resp_open(call);
    } else if (call->stream) {
        sink->stream_open(sink);
        for (int32_t i = 0; i < n_gens; i++) { /* the role (chat) or echoed prompt (legacy) opens each choice */
            if (call->kind == API_TEXT && !(call->echo && call->gens[i].prompt->text)) continue;
            size_t n = 0;
            char *f = api__render_chunk(call, &call->gens[i], true, 0, 0, 0, 0, NULL, &n);
            call__write(call, f, n);
        }
    }
    *out = call;
    return 0;
}
