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
 *   PROMPT_LP  (legacy echo + logprobs: ENGINE_REQ_SCORE) one prompt token's logprob, before any TOKEN; the
 *          prompt's entries are complete at the first TOKEN or the END, when a stream sends the echoed prompt.
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

static void call__submit_more(api_call_t *call);

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
        free(call->gens[i].plp);
        free(call->gens[i].emb);
        free(call->gens[i].pieces);
        api__tf_parser_free(call->gens[i].tfp);
        free(call->gens[i].calls);
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

/* Sends one delta of a parsed choice (streaming). */
static void call__delta(api_call_t *call, api_gen_t *g, api_delta_t *d) {
    size_t n = 0;
    char *f = api__render_delta(call, g, d, &n);
    call__write(call, f, n);
    d->lp_from = d->lp_to; /* logprobs ride with the first delta of a release */
}

/* Feeds g's text [g->fed, to) to its parser (final: the choice is over) and streams what became decided:
   reasoning, content, each call's first fragment (id, name) and its argument bytes, in that order. */
static int call__parse(api_call_t *call, api_gen_t *g, size_t to, bool last, size_t lp_to) {
    const char *text = g->text ? g->text : "";
    if (api__tf_feed(g->tfp, text + g->fed, to - g->fed, last)) return ERR_NOMEM;
    g->fed = to;
    size_t nc = api__tf_n_calls(g->tfp);
    if (nc > g->n_calls) {
        api_gen_call_t *calls = realloc(g->calls, nc * sizeof *calls);
        if (!calls) return ERR_NOMEM;
        g->calls = calls;
        for (size_t i = g->n_calls; i < nc; i++) {
            memset(&calls[i], 0, sizeof calls[i]);
            if (call->ctx)
                api__make_id(call->ctx, "call_", calls[i].id, 30);
            else /* the context is gone (shutdown): no random source, and no client left to read it */
                snprintf(calls[i].id, sizeof calls[i].id, "call_%zu", i);
        }
        g->n_calls = nc;
    }
    if (!call->stream || call->finished) return 0;
    if (call->kind == API_RESP) { /* output items and their events */
        api__resp_progress(call, g);
        return 0;
    }
    api_delta_t d = {.call = -1, .lp_from = g->lp_sent, .lp_to = lp_to};
    size_t rl = 0, cl = 0;
    const char *r = api__tf_reasoning(g->tfp, &rl), *c = api__tf_content(g->tfp, &cl);
    if (rl > g->reasoning_sent || cl > g->content_sent) {
        d.reasoning = r + g->reasoning_sent;
        d.reasoning_len = rl - g->reasoning_sent;
        d.content = c + g->content_sent;
        d.content_len = cl - g->content_sent;
        g->reasoning_sent = rl;
        g->content_sent = cl;
        call__delta(call, g, &d);
        d.reasoning_len = d.content_len = 0;
    }
    for (size_t i = 0; i < g->n_calls; i++) {
        const api_tf_call_t *tc = api__tf_call(g->tfp, i);
        api_gen_call_t *gc = &g->calls[i];
        if (!tc->name) break; /* later calls cannot be named before this one */
        d.call = (int32_t)i;
        if (!gc->announced) {
            gc->announced = true;
            d.call_id = gc->id;
            d.call_name = tc->name;
            d.args_len = 0;
            call__delta(call, g, &d);
            d.call_id = d.call_name = NULL;
        }
        if (tc->args_len > gc->args_sent) {
            d.args = tc->args + gc->args_sent;
            d.args_len = tc->args_len - gc->args_sent;
            gc->args_sent = tc->args_len;
            call__delta(call, g, &d);
            d.args_len = 0;
        }
    }
    if (d.lp_to > d.lp_from) { /* logprobs of tokens whose text is held back or was all markers */
        d.call = -1;
        call__delta(call, g, &d);
    }
    return 0;
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
    if (g->tfp) {
        if (call__parse(call, g, to, last, lp_to)) {
            call->failed = true;
            snprintf(call->fail_msg, sizeof call->fail_msg, "Out of memory while parsing the output.");
        }
    } else if (call->stream && !call->finished && (to > g->released || lp_to > g->lp_sent)) {
        size_t n = 0;
        char *f = api__render_chunk(call, g, false, g->released, to, g->lp_sent, lp_to, NULL, &n);
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
    char *body = call->kind == API_EMBED ? api__render_embeddings(call, &n) : api__render_response(call, &n);
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
    if (finish && !strcmp(finish, "stop") && g->tfp && api__tf_n_calls(g->tfp) > 0)
        finish = call->spec.legacy_functions ? "function_call" : "tool_calls";
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

/* ---- prompt scoring (legacy echo + logprobs) ---------------------------------------------------------------- */

/* Appends a prompt entry for token id (lp NULL: the first token, no logprob), its text right after the previous
   entry's (raw piece offsets; call__prompt_done fits them to the echoed text). */
static int call__prompt_entry(api_call_t *call, api_gen_t *g, int32_t id, const engine_event_t *ev) {
    if (g->n_plp == g->cap_plp) {
        size_t cap = g->cap_plp ? g->cap_plp * 2 : 64;
        api_lp_t *lp = realloc(g->plp, cap * sizeof *lp);
        if (!lp) return ERR_NOMEM;
        g->plp = lp;
        g->cap_plp = cap;
    }
    api_lp_t *e = &g->plp[g->n_plp];
    memset(e, 0, sizeof *e);
    e->start = g->n_plp ? g->plp[g->n_plp - 1].end : 0;
    int rc = call__piece(g, call->tok, id, &e->piece, &e->piece_len);
    e->end = e->start + e->piece_len;
    if (!ev) {
        e->n_top = -1;
    } else {
        e->logprob = ev->logprob;
        int k = ev->n_top < call->top_logprobs ? ev->n_top : call->top_logprobs;
        for (int i = 0; i < k && !rc; i++) {
            rc = call__piece(g, call->tok, ev->top_ids[i], &e->top_piece[i], &e->top_len[i]);
            e->top_lp[i] = ev->top_logprobs[i];
            e->n_top = i + 1;
        }
    }
    if (!rc) g->n_plp++;
    return rc;
}

/* Fails the call for lack of memory. */
static void call__oom(api_call_t *call, const char *msg) {
    call->failed = true;
    snprintf(call->fail_msg, sizeof call->fail_msg, "%s", msg);
    call__cancel_running(call);
    call__complete(call);
}

static void call__on_prompt_lp(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    if (g->done || call->finished || call->cancelled || !call->logprobs || g->prompt_done) return;
    if ((size_t)ev->pos != g->n_plp) return; /* in order from 1: anything else is not this prompt's */
    if (call__prompt_entry(call, g, ev->token, ev)) call__oom(call, "Out of memory while scoring the prompt.");
}

/* Every prompt entry is in: fit the offsets to the echoed text (a tokenizer that adds a space before the first
   word gives pieces one byte longer in all than the text: offsets after that space shift back by the excess;
   offsets never pass the text's end), then, streaming, send the echoed prompt with its logprobs. */
static void call__prompt_done(api_call_t *call, api_gen_t *g) {
    if (g->prompt_done) return;
    g->prompt_done = true;
    size_t text_len = g->prompt->text ? g->prompt->text_len : 0;
    size_t raw = g->n_plp ? g->plp[g->n_plp - 1].end : 0;
    size_t excess = raw > text_len ? raw - text_len : 0;
    for (size_t i = 0; i < g->n_plp; i++) {
        api_lp_t *e = &g->plp[i];
        e->start = e->start > excess ? e->start - excess : 0;
        e->end = e->end > excess ? e->end - excess : 0;
        if (e->start > text_len) e->start = text_len;
        if (e->end > text_len) e->end = text_len;
    }
    if (call->stream && !call->finished && g->prompt->text) {
        size_t n = 0;
        char *f = api__render_chunk(call, g, true, 0, 0, 0, 0, NULL, &n);
        call__write(call, f, n);
    }
}

/* Embeddings: keeps the vector (one event per input, before its END). */
static void call__on_embedding(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    if (g->done || call->finished || call->cancelled || g->emb || ev->n_embedding < 1 || !ev->embedding) return;
    g->emb = malloc((size_t)ev->n_embedding * sizeof *g->emb);
    if (!g->emb) {
        call__oom(call, "Out of memory while collecting embeddings.");
        return;
    }
    memcpy(g->emb, ev->embedding, (size_t)ev->n_embedding * sizeof *g->emb);
    g->n_emb = ev->n_embedding;
}

static void call__on_token(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    if (g->done || call->finished || call->cancelled) return;
    if (call->score) call__prompt_done(call, g);
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
        call__oom(call, "Out of memory while generating.");
        return;
    }
    call__scan(call, g);
    if (g->tfp && api__tf_in_reasoning(g->tfp)) g->n_reasoning++;
}

static void call__on_end(api_call_t *call, api_gen_t *g, const engine_event_t *ev) {
    api__mx_gen_end(call, g, ev);
    g->n_cached = ev->n_cached;
    g->running = false;
    g->n_cached = ev->n_cached;
    call->n_running--;
    if (g->done || call->finished) return;
    if (call->score && ev->finish != ENGINE_FINISH_ERROR && ev->finish != ENGINE_FINISH_CANCELLED && !call->cancelled)
        call__prompt_done(call, g);
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
    if (call->kind == API_EMBED) {
        if (!g->emb) {
            call->failed = true;
            snprintf(call->fail_msg, sizeof call->fail_msg, "The engine returned no embedding for input %d.", g->index);
            call__cancel_running(call);
        }
        call__done(call, g, "stop");
        return;
    }
    if (call__append(g, ev->text, ev->text_len) == 0 && call__scan(call, g)) return;
    call__release(call, g, g->len, true);
    call__done(call, g, ev->finish == ENGINE_FINISH_LENGTH ? "length" : "stop");
}

void api_event(void *user, const engine_event_t *ev) {
    api_gen_t *g = user;
    api_call_t *call = g->call;
    if (ev->type == ENGINE_EV_TOKEN) {
        call__on_token(call, g, ev);
    } else if (ev->type == ENGINE_EV_PROMPT_LP) {
        call__on_prompt_lp(call, g, ev);
    } else if (ev->type == ENGINE_EV_EMBEDDING) {
        call__on_embedding(call, g, ev);
    } else if (ev->type == ENGINE_EV_END) {
        call__on_end(call, g, ev);
        call__submit_more(call); /* embeddings waiting for room in the engine's queue */
    }
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

/* Submits g's engine request. Returns 0, or the backend's error mapped into e. */
static int call__submit(api_call_t *call, api_gen_t *g, api_err_t *e) {
    const api_prompt_t *pr = g->prompt;
    engine_req_t r = {0};
    r.kind = call->kind == API_EMBED ? ENGINE_REQ_EMBED : call->score ? ENGINE_REQ_SCORE : ENGINE_REQ_GENERATE;
    r.prompt = pr->ids;
    r.n_prompt = pr->n;
    if (call->kind == API_EMBED || call->spec.max_tokens || call->spec.score_only)
        r.max_tokens = (int32_t)call->spec.max_tokens;
    else
        r.max_tokens = (int32_t)((int64_t)call->slot->n_ctx - (int64_t)pr->n); /* chat without a limit: the context */
    if (call->score && call->logprobs && g->n_plp == 0 && call__prompt_entry(call, g, pr->ids[0], NULL))
        return api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
    r.sampling = call->spec.sp;
    r.sampling.seed = call->spec.seed_given ? call->spec.sp.seed + (uint64_t)g->index : api__rand(call->ctx);
    r.logprobs = call->logprobs;
    r.n_top_logprobs = call->top_logprobs;
    r.grammar = call->spec.grammar;
    r.lazy = call->spec.lazy;
    r.render_special = call->spec.parse_output;
    r.user = g;
    char msg[256] = "";
    int rc = call->backend.submit(call->backend.self, &r, &g->id, msg, sizeof msg);
    if (rc) return call__submit_error(rc, msg, &call->spec, e);
    g->submitted = true;
    g->running = true;
    call->n_running++;
    return 0;
}

/* Embeddings: submits the inputs that waited for room in the engine's queue, in order, while it takes them.
   When none of the call's requests runs and the queue still refuses, the call fails with that error. */
static void call__submit_more(api_call_t *call) {
    if (call->kind != API_EMBED || call->finished || call->released || !call->ctx) return;
    for (int32_t i = 0; i < call->n_gens; i++) {
        api_gen_t *g = &call->gens[i];
        if (g->submitted) continue;
        api_err_t e;
        int rc = call__submit(call, g, &e);
        if (rc == ERR_FULL && call->n_running > 0) return; /* the next END tries again */
        if (rc) {
            call->failed = true;
            snprintf(call->fail_msg, sizeof call->fail_msg, "%.200s", e.message);
            call__cancel_running(call);
            call__complete(call);
            return;
        }
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
    call->spec.lazy.texts = call->spec.trig_texts; /* the triggers live inside the spec: point at the copy */
    call->spec.lazy.tokens = call->spec.trig_tokens;
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
    call->score = call->kind == API_TEXT && call->echo && (call->logprobs || call->spec.score_only);
    call->created = c->fixed_created ? c->fixed_created : (int64_t)time(NULL);
    api__make_id(c,
                 call->kind == API_CHAT   ? "chatcmpl-"
                 : call->kind == API_RESP ? "resp_"
                                          : "cmpl-",
                 call->id, sizeof call->id);
    call->n_gens = n_gens;
    call->quota_key = -1;
    api__live_add(c, call);

    int rc = 0;
    for (size_t p = 0; p < call->spec.n_prompts; p++)
        call->prompt_tokens += (int32_t)call->spec.prompts[p].n;
    for (int32_t i = 0; i < n_gens; i++) {
        api_gen_t *g = &call->gens[i];
        g->call = call;
        g->index = i;
        g->prompt = &call->spec.prompts[i / call->spec.n];
        if (call->spec.parse_output) {
            rc = api__tf_parser_new(&m->tf, call->spec.tool_choice != API_TC_NONE, !c->reasoning_inline,
                                    call->spec.prompt_tail, &g->tfp);
            if (!rc && call->spec.prefill) /* a forced call: the parser reads its opener first */
                rc = api__tf_feed(g->tfp, call->spec.prefill, strlen(call->spec.prefill), false);
            if (rc) {
                api_err_set(e, ERR_NOMEM, 503, "server_error", NULL, NULL, "The server is out of memory.");
                break;
            }
        }
    }
    for (int32_t i = 0; i < n_gens && !rc; i++) {
        rc = call__submit(call, &call->gens[i], e);
        /* embeddings: inputs past the engine's queue wait for room (call__submit_more at each END) */
        if (rc == ERR_FULL && call->kind == API_EMBED && call->n_running > 0) rc = 0;
        if (!call->gens[i].submitted) break;
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
            /* a scored prompt's echo waits for its logprobs (call__prompt_done) */
            if (call->kind == API_TEXT && (call->score || !(call->echo && call->gens[i].prompt->text))) continue;
            size_t n = 0;
            char *f = api__render_chunk(call, &call->gens[i], true, 0, 0, 0, 0, NULL, &n);
            call__write(call, f, n);
        }
    }
    *out = call;
    return 0;
}
