/*
 * render.c — the JSON of responses and SSE chunks, in OpenAI's shapes.
 *
 *   chat.completion        {id, object, created, model, system_fingerprint,
 *                           choices[{index, message{role, content, refusal}, logprobs, finish_reason}], usage}
 *   chat.completion.chunk  {id, object, created, model, system_fingerprint,
 *                           choices[{index, delta{role?, content?}, logprobs, finish_reason}], usage?}
 *   text_completion        {id, object, created, model, system_fingerprint,
 *                           choices[{index, text, logprobs, finish_reason}], usage}
 *   logprobs (chat)        {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal}
 *   logprobs (legacy)      {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}; with echo, the
 *                          prompt's tokens come first, the first of them with null logprob and top_logprobs
 *   usage                  {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details{cached_tokens}}
 *
 * A token whose bytes are not valid UTF-8 on their own (part of a character) is named "bytes:\xNN..." in
 * `token`, as OpenAI does; `bytes` always carries the raw bytes. A logprob of -inf prints as -9999.0 (OpenAI's
 * floor). text_offset counts bytes of the returned text (echoed prompt included).
 * Loop thread only (see api.h); these functions only read the call.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "jr.h"
#include "jw.h"

static double render__lp(float lp) { return isfinite(lp) ? (double)lp : -9999.0; }

/* The `token` name of a piece: the piece itself when it is valid UTF-8, else "bytes:\xNN..." built in buf. */
static const char *render__token_name(const char *p, size_t n, char *buf, size_t cap, size_t *out_n) {
    if (jr_utf8_valid_len(p, n) == n) {
        *out_n = n;
        return p;
    }
    size_t k = (size_t)snprintf(buf, cap, "bytes:");
    for (size_t i = 0; i < n && k + 5 < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", (unsigned char)p[i]);
    *out_n = k;
    return buf;
}

#define RENDER_NAME_CAP (6 + 4 * 128 + 8)

static void render__token_str(jw_t *w, const char *p, size_t n) {
    char buf[RENDER_NAME_CAP];
    size_t k = 0;
    const char *s = render__token_name(p, n, buf, sizeof buf, &k);
    jw_strn(w, s, k);
}

static void render__bytes(jw_t *w, const char *p, size_t n) {
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_int(w, (unsigned char)p[i]);
    jw_end(w);
}

/* {"token","logprob","bytes"} members of one token (no braces). */
static void render__tok_members(jw_t *w, const char *p, size_t n, float lp) {
    jw_key(w, "token");
    render__token_str(w, p, n);
    jw_key(w, "logprob");
    jw_num(w, render__lp(lp));
    jw_key(w, "bytes");
    render__bytes(w, p, n);
}

void api__render_lp_entry(jw_t *w, const api_gen_t *g, const api_lp_t *e) {
    jw_obj(w);
    render__tok_members(w, g->pieces + e->piece, e->piece_len, e->logprob);
    jw_key(w, "top_logprobs");
    jw_arr(w);
    for (int k = 0; k < e->n_top; k++) {
        jw_obj(w);
        render__tok_members(w, g->pieces + e->top_piece[k], e->top_len[k], e->top_lp[k]);
        jw_end(w);
    }
    jw_end(w);
    jw_end(w);
}

/* Chat logprobs of entries [from, to): {"content":[...],"refusal":null}. */
static void render__lp_chat(jw_t *w, const api_gen_t *g, size_t from, size_t to) {
    jw_obj(w);
    jw_key(w, "content");
    jw_arr(w);
    for (size_t i = from; i < to; i++)
        api__render_lp_entry(w, g, &g->lp[i]);
    jw_end(w);
    jw_key(w, "refusal");
    jw_null(w);
    jw_end(w);
}

/* A run of legacy logprob entries: entries [from, to) of lp, pieces in `pieces`, offsets shifted by `base`. */
typedef struct {
    const api_lp_t *lp;
    const char *pieces;
    size_t from, to, base;
} render_seg_t;

/* Legacy logprobs of the segments one after the other: {tokens, token_logprobs, top_logprobs, text_offset}; an
   entry with n_top -1 (a prompt's first token) has null in token_logprobs and top_logprobs. */
static void render__lp_text(jw_t *w, const render_seg_t *seg, size_t n_seg) {
    jw_obj(w);
    jw_key(w, "tokens");
    jw_arr(w);
    for (size_t s = 0; s < n_seg; s++)
        for (size_t i = seg[s].from; i < seg[s].to; i++)
            render__token_str(w, seg[s].pieces + seg[s].lp[i].piece, seg[s].lp[i].piece_len);
    jw_end(w);
    jw_key(w, "token_logprobs");
    jw_arr(w);
    for (size_t s = 0; s < n_seg; s++)
        for (size_t i = seg[s].from; i < seg[s].to; i++) {
            if (seg[s].lp[i].n_top < 0)
                jw_null(w);
            else
                jw_num(w, render__lp(seg[s].lp[i].logprob));
        }
    jw_end(w);
    jw_key(w, "top_logprobs");
    jw_arr(w);
    for (size_t s = 0; s < n_seg; s++)
        for (size_t i = seg[s].from; i < seg[s].to; i++) {
            const api_lp_t *e = &seg[s].lp[i];
            if (e->n_top < 0) {
                jw_null(w);
                continue;
            }
            jw_obj(w);
            for (int k = 0; k < e->n_top; k++) {
                const char *p = seg[s].pieces + e->top_piece[k];
                size_t n = e->top_len[k];
                bool dup = false; /* a JSON object cannot hold a key twice: the first (most likely) wins */
                for (int j = 0; j < k && !dup; j++)
                    dup = e->top_len[j] == n && !memcmp(seg[s].pieces + e->top_piece[j], p, n);
                if (dup) continue;
                char buf[RENDER_NAME_CAP];
                size_t kn = 0;
                const char *name = render__token_name(p, n, buf, sizeof buf, &kn);
                jw_keyn(w, name, kn);
                jw_num(w, render__lp(e->top_lp[k]));
            }
            jw_end(w);
        }
    jw_end(w);
    jw_key(w, "text_offset");
    jw_arr(w);
    for (size_t s = 0; s < n_seg; s++)
        for (size_t i = seg[s].from; i < seg[s].to; i++)
            jw_int(w, (int64_t)(seg[s].base + seg[s].lp[i].start));
    jw_end(w);
    jw_end(w);
}

static void render__head(jw_t *w, const api_call_t *call, const char *object) {
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, call->id);
    jw_key(w, "object");
    jw_str(w, object);
    jw_key(w, "created");
    jw_int(w, call->created);
    jw_key(w, "model");
    jw_str(w, call->model);
    jw_key(w, "system_fingerprint");
    jw_str(w, call->fingerprint);
}

/* Prompt tokens the prefix cache served: per prompt, the most any of its choices was served (each choice reads
   the same prompt, and usage counts it once). */
static int64_t render__cached(const api_call_t *call) {
    int64_t cached = 0;
    int32_t per = call->spec.n > 0 ? call->spec.n : 1;
    for (int32_t i = 0; i < call->n_gens; i += per) {
        int32_t most = 0;
        for (int32_t k = i; k < i + per && k < call->n_gens; k++)
            if (call->gens[k].n_cached > most) most = call->gens[k].n_cached;
        cached += most;
    }
    return cached;
}

static void render__usage(jw_t *w, const api_call_t *call) {
    int64_t completion = 0, reasoning = 0;
    for (int32_t i = 0; i < call->n_gens; i++) {
        completion += call->gens[i].n_tokens;
        reasoning += call->gens[i].n_reasoning;
    }
    jw_obj(w);
    jw_key(w, "prompt_tokens");
    jw_int(w, call->prompt_tokens);
    jw_key(w, "completion_tokens");
    jw_int(w, completion);
    jw_key(w, "total_tokens");
    jw_int(w, call->prompt_tokens + completion);
    jw_key(w, "prompt_tokens_details");
    jw_obj(w);
    jw_key(w, "cached_tokens");
    jw_int(w, render__cached(call));
    jw_end(w);
    jw_key(w, "completion_tokens_details"); /* legacy completions too: reasoning is only split out on chat */
    jw_obj(w);
    jw_key(w, "reasoning_tokens");
    jw_int(w, reasoning);
    jw_end(w);
    jw_end(w);
}

/* A chat choice's message when its text went through the parser: content (null when empty and calls were made),
   reasoning_content (when there was any), and tool_calls (or the legacy function_call). */
static void render__parsed_message(jw_t *w, const api_call_t *call, const api_gen_t *g) {
    size_t cl = 0, rl = 0;
    const char *c = api__tf_content(g->tfp, &cl), *r = api__tf_reasoning(g->tfp, &rl);
    size_t nc = 0; /* calls with a name: an unnamed one was cut off before it said what it calls */
    while (nc < g->n_calls && api__tf_call(g->tfp, nc)->name)
        nc++;
    jw_key(w, "content");
    if (cl == 0 && nc > 0)
        jw_null(w);
    else
        jw_strn(w, c, cl);
    if (rl > 0) {
        jw_key(w, "reasoning_content");
        jw_strn(w, r, rl);
    }
    if (nc > 0 && call->spec.legacy_functions) {
        const api_tf_call_t *tc = api__tf_call(g->tfp, 0);
        jw_key(w, "function_call");
        jw_obj(w);
        jw_key(w, "name");
        jw_str(w, tc->name);
        jw_key(w, "arguments");
        jw_strn(w, tc->args ? tc->args : "", tc->args_len);
        jw_end(w);
    } else if (nc > 0) {
        jw_key(w, "tool_calls");
        jw_arr(w);
        for (size_t i = 0; i < nc; i++) {
            const api_tf_call_t *tc = api__tf_call(g->tfp, i);
            jw_obj(w);
            jw_key(w, "id");
            jw_str(w, g->calls[i].id);
            jw_key(w, "type");
            jw_str(w, "function");
            jw_key(w, "function");
            jw_obj(w);
            jw_key(w, "name");
            jw_str(w, tc->name);
            jw_key(w, "arguments");
            jw_strn(w, tc->args ? tc->args : "", tc->args_len);
            jw_end(w);
            jw_end(w);
        }
        jw_end(w);
    }
}

/* The echoed prompt length a legacy choice's offsets start from. */
static size_t render__base(const api_call_t *call, const api_gen_t *g) {
    return call->echo && g->prompt && g->prompt->text ? g->prompt->text_len : 0;
}

char *api__render_response(const api_call_t *call, size_t *len) {
    jw_t w;
    jw_init(&w);
    bool chat = call->kind == API_CHAT;
    render__head(&w, call, chat ? "chat.completion" : "text_completion");
    jw_key(&w, "choices");
    jw_arr(&w);
    for (int32_t i = 0; i < call->n_gens; i++) {
        const api_gen_t *g = &call->gens[i];
        jw_obj(&w);
        jw_key(&w, "index");
        jw_int(&w, g->index);
        if (chat) {
            jw_key(&w, "message");
            jw_obj(&w);
            jw_key(&w, "role");
            jw_str(&w, "assistant");
            if (g->tfp) {
                render__parsed_message(&w, call, g);
            } else {
                jw_key(&w, "content");
                jw_strn(&w, g->text, g->len);
            }
            jw_key(&w, "refusal");
            jw_null(&w);
            jw_end(&w);
        } else {
            jw_key(&w, "text");
            if (call->echo && g->prompt && g->prompt->text) {
                /* prompt + completion as one string: write both into a scratch buffer */
                jw_t t;
                jw_init(&t);
                jw_bytes(&t, g->prompt->text, g->prompt->text_len);
                jw_bytes(&t, g->text ? g->text : "", g->len);
                size_t tl = 0;
                char *s = jw_finish(&t, &tl);
                if (!s)
                    w.oom = true;
                else
                    jw_strn(&w, s, tl);
                free(s);
            } else {
                jw_strn(&w, g->text, g->len);
            }
        }
        jw_key(&w, "logprobs");
        if (!call->logprobs)
            jw_null(&w);
        else if (chat)
            render__lp_chat(&w, g, 0, g->n_lp);
        else {
            const render_seg_t seg[2] = {{g->plp, g->pieces, 0, g->n_plp, 0},
                                         {g->lp, g->pieces, 0, g->n_lp, render__base(call, g)}};
            render__lp_text(&w, seg, 2);
        }
        jw_key(&w, "finish_reason");
        jw_str(&w, g->finish ? g->finish : "stop");
        jw_end(&w);
    }
    jw_end(&w);
    jw_key(&w, "usage");
    render__usage(&w, call);
    jw_end(&w);
    return jw_finish(&w, len);
}

/* A streamed call's {name?, arguments} object: the name in the call's first delta, argument fragments after. */
static void render__call_fn(jw_t *w, const api_delta_t *d) {
    jw_obj(w);
    if (d->call_name) {
        jw_key(w, "name");
        jw_str(w, d->call_name);
    }
    jw_key(w, "arguments");
    jw_strn(w, d->args_len ? d->args : "", d->args_len);
    jw_end(w);
}

/* Wraps the JSON value in w into one SSE frame "data: ...\n\n". */
static char *render__frame(jw_t *w, size_t *len) {
    size_t n = 0;
    char *json = jw_finish(w, &n);
    if (!json) return NULL;
    jw_t f;
    jw_init(&f);
    jw_bytes(&f, "data: ", 6);
    jw_bytes(&f, json, n);
    jw_bytes(&f, "\n\n", 2);
    free(json);
    return jw_finish(&f, len);
}

char *api__render_chunk(const api_call_t *call, const api_gen_t *g, bool role, size_t from, size_t to, size_t lp_from,
                        size_t lp_to, const char *finish, size_t *len) {
    jw_t w;
    jw_init(&w);
    bool chat = call->kind == API_CHAT;
    const char *text = g->text ? g->text : ""; /* NULL until the first byte: NULL + 0 is undefined (fuzz_http) */
    render__head(&w, call, chat ? "chat.completion.chunk" : "text_completion");
    jw_key(&w, "choices");
    jw_arr(&w);
    jw_obj(&w);
    jw_key(&w, "index");
    jw_int(&w, g->index);
    if (chat) {
        jw_key(&w, "delta");
        jw_obj(&w);
        if (role) {
            jw_key(&w, "role");
            jw_str(&w, "assistant");
        }
        if (role || to > from) {
            jw_key(&w, "content");
            jw_strn(&w, text + from, to - from);
        }
        jw_end(&w);
    } else {
        jw_key(&w, "text");
        if (role && call->echo && g->prompt && g->prompt->text)
            jw_strn(&w, g->prompt->text, g->prompt->text_len);
        else
            jw_strn(&w, text + from, to - from);
    }
    jw_key(&w, "logprobs");
    bool prompt_lp = !chat && role && call->score && g->n_plp; /* the echoed prompt's chunk, scored */
    if (!call->logprobs || (lp_to <= lp_from && !prompt_lp)) {
        jw_null(&w);
    } else if (chat) {
        render__lp_chat(&w, g, lp_from, lp_to);
    } else {
        const render_seg_t seg = prompt_lp ? (render_seg_t){g->plp, g->pieces, 0, g->n_plp, 0}
                                           : (render_seg_t){g->lp, g->pieces, lp_from, lp_to, render__base(call, g)};
        render__lp_text(&w, &seg, 1);
    }
    jw_key(&w, "finish_reason");
    jw_str(&w, finish);
    jw_end(&w);
    jw_end(&w);
    if (call->include_usage) {
        jw_key(&w, "usage");
        jw_null(&w);
    }
    jw_end(&w);
    return render__frame(&w, len);
}

char *api__render_delta(const api_call_t *call, const api_gen_t *g, const api_delta_t *d, size_t *len) {
    jw_t w;
    jw_init(&w);
    render__head(&w, call, "chat.completion.chunk");
    jw_key(&w, "choices");
    jw_arr(&w);
    jw_obj(&w);
    jw_key(&w, "index");
    jw_int(&w, g->index);
    jw_key(&w, "delta");
    jw_obj(&w);
    if (d->reasoning_len) {
        jw_key(&w, "reasoning_content");
        jw_strn(&w, d->reasoning, d->reasoning_len);
    }
    if (d->content_len) {
        jw_key(&w, "content");
        jw_strn(&w, d->content, d->content_len);
    }
    if (d->call >= 0 && call->spec.legacy_functions) {
        if (d->call == 0) { /* function_call streams only its one call */
            jw_key(&w, "function_call");
            render__call_fn(&w, d);
        }
    } else if (d->call >= 0) {
        jw_key(&w, "tool_calls");
        jw_arr(&w);
        jw_obj(&w);
        jw_key(&w, "index");
        jw_int(&w, d->call);
        if (d->call_id) {
            jw_key(&w, "id");
            jw_str(&w, d->call_id);
            jw_key(&w, "type");
            jw_str(&w, "function");
        }
        jw_key(&w, "function");
        render__call_fn(&w, d);
        jw_end(&w);
        jw_end(&w);
    }
    jw_end(&w);
    jw_key(&w, "logprobs");
    if (!call->logprobs || d->lp_to <= d->lp_from)
        jw_null(&w);
    else
        render__lp_chat(&w, g, d->lp_from, d->lp_to);
    jw_key(&w, "finish_reason");
    jw_null(&w);
    jw_end(&w);
    jw_end(&w);
    if (call->include_usage) {
        jw_key(&w, "usage");
        jw_null(&w);
    }
    jw_end(&w);
    return render__frame(&w, len);
}

char *api__render_usage_chunk(const api_call_t *call, size_t *len) {
    jw_t w;
    jw_init(&w);
    render__head(&w, call, call->kind == API_CHAT ? "chat.completion.chunk" : "text_completion");
    jw_key(&w, "choices");
    jw_arr(&w);
    jw_end(&w);
    jw_key(&w, "usage");
    render__usage(&w, call);
    jw_end(&w);
    return render__frame(&w, len);
}

static void render__model(jw_t *w, const api_ctx_t *c, const api_slot_t *m) {
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, m->id);
    jw_key(w, "object");
    jw_str(w, "model");
    jw_key(w, "created");
    jw_int(w, c->created);
    jw_key(w, "owned_by");
    jw_str(w, c->owned_by);
    jw_end(w);
}

char *api__render_models(const api_ctx_t *c, const api_slot_t *one, size_t *len) {
    jw_t w;
    jw_init(&w);
    if (one) {
        render__model(&w, c, one);
    } else {
        jw_obj(&w);
        jw_key(&w, "object");
        jw_str(&w, "list");
        jw_key(&w, "data");
        jw_arr(&w);
        for (size_t i = 0; i < c->n_models; i++)
            render__model(&w, c, &c->models[i]);
        jw_end(&w);
        jw_end(&w);
    }
    return jw_finish(&w, len);
}
