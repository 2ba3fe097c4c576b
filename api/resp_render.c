/*
 * resp_render.c — /v1/responses output: the response object, its semantic SSE events, and storing it.
 *
 * The response object (OpenAI's shape):
 *   {id, object:"response", created_at, status, completed_at?, error, incomplete_details, model, output:[items],
 *    usage, ...the request's settings echoed (responses.c builds them)}
 * The output items come from the generation's parser (toolfmt.h), in the order they began: a reasoning item
 * {id "rs_", type:"reasoning", summary:[], content:[reasoning_text]} when the model thought, the assistant message
 * {id, type:"message", status, role, content:[output_text{text, annotations:[], logprobs}]} when it wrote text
 * or made no call, and a function_call item {id "fc_", call_id "call_", name, arguments, status} per call.
 * logprobs is [] unless include asked for "message.output_text.logprobs": then it lists, as chat does, each
 * token whose text went (at least in part) into the message's text, with its top_logprobs alternatives; the
 * parser tells which (api__tf_content_from), so reasoning, markers and calls are left out. A streamed delta
 * carries the entries of the tokens settled since the one before; the .done events and the final object list all.
 * status: completed; incomplete with incomplete_details.reason "max_output_tokens" when generation stopped at the
 * token limit (max_output_tokens or the context); failed with error {code, message} when the engine failed. usage:
 * input_tokens (+ input_tokens_details.cached_tokens, from the prefix cache), output_tokens (+
 * output_tokens_details.reasoning_tokens), total_tokens.
 *
 * Streaming: every event is "event: TYPE\ndata: {"type":TYPE,"sequence_number":N,...}\n\n", N from 0 up by one:
 *   response.created, response.in_progress                                                             (at start)
 *   per item as it begins: response.output_item.added, then for the message response.content_part.added and
 *   response.output_text.delta..., for reasoning response.content_part.added and response.reasoning_text.delta...,
 *   for a call response.function_call_arguments.delta...; as it ends: the text's or arguments' .done,
 *   response.content_part.done (message, reasoning) and response.output_item.done (reasoning ends when the answer
 *   or a call begins, a call when its text is complete, the message at the end)
 *   response.completed | response.incomplete                                                          (at the end)
 * An engine failure ends with response.failed (the response with status failed); a shutdown, or a store that
 * cannot be written, with an `error` event {type, code, message, param, sequence_number}.
 *
 * Storing (store: true): the final response, its input items and its conversation (the messages it saw without
 * instructions, plus its answer) are written to the store before the response or its terminal event goes out,
 * so a response a client received is one GET and previous_response_id can find, across restarts.
 * Loop thread only (see api.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "err.h"
#include "jw.h"
#include "resp_store.h"

typedef enum { RESP_IN_PROGRESS, RESP_COMPLETED, RESP_INCOMPLETE, RESP_FAILED } resp_status_t;

static const char *const resp__status_names[] = {"in_progress", "completed", "incomplete", "failed"};

static const api_gen_t *resp__gen(const api_call_t *call) { return call->n_gens ? &call->gens[0] : NULL; }

/* The parser's input offset of byte `at` of the generation's text (a forced call's opener was fed first). */
static size_t resp__in_off(const api_call_t *call, size_t at) {
    return (call->spec.prefill ? strlen(call->spec.prefill) : 0) + at;
}

/* Whether logprob entry e's token made some of the message's text (not reasoning, markers or a call). */
static bool resp__lp_is_content(const api_call_t *call, const api_gen_t *g, const api_lp_t *e) {
    return !g->tfp || api__tf_content_from(g->tfp, resp__in_off(call, e->start), resp__in_off(call, e->end));
}

/* The logprobs array of the message's tokens among entries [from, to) ([] unless include asked for them). */
static void resp__lp_list(jw_t *w, const api_call_t *call, size_t from, size_t to) {
    const api_gen_t *g = resp__gen(call);
    jw_arr(w);
    for (size_t i = from; call->spec.resp->logprobs && g && i < to && i < g->n_lp; i++)
        if (resp__lp_is_content(call, g, &g->lp[i])) api__render_lp_entry(w, g, &g->lp[i]);
    jw_end(w);
}

/* The output_text part {type, text, annotations, logprobs}; with_lp: every logprob entry of the message (else
   none: the empty part of content_part.added). */
static void resp__part(jw_t *w, const api_call_t *call, const char *text, size_t len, bool with_lp) {
    jw_obj(w);
    jw_key(w, "type");
    jw_str(w, "output_text");
    jw_key(w, "text");
    jw_strn(w, text ? text : "", text ? len : 0);
    jw_key(w, "annotations");
    jw_arr(w);
    jw_end(w);
    jw_key(w, "logprobs");
    resp__lp_list(w, call, 0, with_lp ? SIZE_MAX : 0);
    jw_end(w);
}

/* The parsed output of the call's one generation: content, reasoning (tags removed) and calls. */
static const char *resp__content(const api_gen_t *g, size_t *n) {
    *n = 0;
    if (!g) return "";
    if (g->tfp) return api__tf_content(g->tfp, n);
    *n = g->len;
    return g->text ? g->text : "";
}

static const char *resp__reasoning(const api_gen_t *g, size_t *n) {
    *n = 0;
    return g && g->tfp ? api__tf_reasoning(g->tfp, n) : "";
}

/* Calls with a name (an unnamed one was cut before it said what it calls). */
static size_t resp__n_calls(const api_gen_t *g) {
    size_t n = 0;
    while (g && g->tfp && n < g->n_calls && api__tf_call(g->tfp, n)->name)
        n++;
    return n;
}

/* The message item; with_content false: content [] (the in-progress item of output_item.added). */
static void resp__message(jw_t *w, const api_call_t *call, const char *status, bool with_content) {
    const api_gen_t *g = resp__gen(call);
    size_t n;
    const char *text = resp__content(g, &n);
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, call->spec.resp->msg_id);
    jw_key(w, "type");
    jw_str(w, "message");
    jw_key(w, "status");
    jw_str(w, status);
    jw_key(w, "role");
    jw_str(w, "assistant");
    jw_key(w, "content");
    jw_arr(w);
    if (with_content) resp__part(w, call, text, n, true);
    jw_end(w);
    jw_end(w);
}

/* The reasoning item {id, type, summary: [], content: [reasoning_text]}; with_text false: content []. */
static void resp__reasoning_item(jw_t *w, const api_call_t *call, const char *status, bool with_text) {
    size_t n;
    const char *text = resp__reasoning(resp__gen(call), &n);
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, call->spec.resp->rs_id);
    jw_key(w, "type");
    jw_str(w, "reasoning");
    jw_key(w, "summary");
    jw_arr(w);
    jw_end(w);
    jw_key(w, "content");
    jw_arr(w);
    if (with_text) {
        jw_obj(w);
        jw_key(w, "type");
        jw_str(w, "reasoning_text");
        jw_key(w, "text");
        jw_strn(w, text, n);
        jw_end(w);
    }
    jw_end(w);
    jw_key(w, "status");
    jw_str(w, status);
    jw_end(w);
}

/* A function_call item's id: "fc_" and its call id's random part. */
static void resp__fc_id(const api_gen_t *g, size_t i, char *out, size_t cap) {
    const char *cid = g->calls[i].id;
    snprintf(out, cap, "fc_%s", strncmp(cid, "call_", 5) ? cid : cid + 5);
}

/* The function_call item of call i; with_args false: arguments "" (the in-progress item). */
static void resp__call_item(jw_t *w, const api_call_t *call, size_t i, const char *status, bool with_args) {
    const api_gen_t *g = resp__gen(call);
    const api_tf_call_t *tc = api__tf_call(g->tfp, i);
    char id[64];
    resp__fc_id(g, i, id, sizeof id);
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, id);
    jw_key(w, "type");
    jw_str(w, "function_call");
    jw_key(w, "status");
    jw_str(w, status);
    jw_key(w, "arguments");
    jw_strn(w, with_args && tc->args ? tc->args : "", with_args ? tc->args_len : 0);
    jw_key(w, "call_id");
    jw_str(w, g->calls[i].id);
    jw_key(w, "name");
    jw_str(w, tc->name);
    jw_end(w);
}

/* Appends an item to the order the output lists. 0 or ERR_NOMEM. */
static int resp__push_item(api_resp_t *r, int32_t item) {
    if (r->n_items == r->cap_items) {
        size_t cap = r->cap_items ? r->cap_items * 2 : 8;
        int32_t *it = realloc(r->items, cap * sizeof *it);
        if (!it) return ERR_NOMEM;
        r->items = it;
        r->cap_items = cap;
    }
    r->items[r->n_items++] = item;
    return 0;
}

/* Non-streamed (or never opened) items in OpenAI's order: the reasoning, the message (when it has text, or when
   there is no call: a response always says something), then the calls. */
static void resp__settle_order(const api_call_t *call) {
    api_resp_t *r = call->spec.resp;
    const api_gen_t *g = resp__gen(call);
    size_t rl, cl, nc = resp__n_calls(g);
    resp__reasoning(g, &rl);
    resp__content(g, &cl);
    bool has_rs = false, has_msg = false;
    for (size_t i = 0; i < r->n_items; i++) {
        has_rs |= r->items[i] == RESP_ITEM_REASONING;
        has_msg |= r->items[i] == RESP_ITEM_MESSAGE;
    }
    if (rl && !has_rs) resp__push_item(r, RESP_ITEM_REASONING);
    if ((cl || nc == 0) && !has_msg) resp__push_item(r, RESP_ITEM_MESSAGE);
    for (size_t i = 0; i < nc; i++) {
        bool has = false;
        for (size_t k = 0; k < r->n_items; k++)
            has |= r->items[k] == (int32_t)i;
        if (!has) resp__push_item(r, (int32_t)i);
    }
}

/* The output array's items, final. */
static void resp__output(jw_t *w, const api_call_t *call, const char *status) {
    const api_resp_t *r = call->spec.resp;
    for (size_t i = 0; i < r->n_items; i++) {
        int32_t it = r->items[i];
        if (it == RESP_ITEM_REASONING)
            resp__reasoning_item(w, call, "completed", true);
        else if (it == RESP_ITEM_MESSAGE)
            resp__message(w, call, status, true);
        else
            resp__call_item(w, call, (size_t)it, "completed", true);
    }
}

/* Splices every member of the echo object in. */
static void resp__echo(jw_t *w, const cJSON *echo) {
    const cJSON *it;
    cJSON_ArrayForEach(it, echo) {
        char *s = cJSON_PrintUnformatted(it);
        if (!s) {
            w->oom = true;
            return;
        }
        jw_key(w, it->string);
        jw_raw(w, s, strlen(s));
        cJSON_free(s);
    }
}

static void resp__object(jw_t *w, const api_call_t *call, resp_status_t st, const char *fail_msg) {
    const api_gen_t *g = resp__gen(call);
    jw_obj(w);
    jw_key(w, "id");
    jw_str(w, call->id);
    jw_key(w, "object");
    jw_str(w, "response");
    jw_key(w, "created_at");
    jw_int(w, call->created);
    jw_key(w, "status");
    jw_str(w, resp__status_names[st]);
    if (st == RESP_COMPLETED) {
        jw_key(w, "completed_at");
        jw_int(w, call->ctx && call->ctx->fixed_created ? call->ctx->fixed_created : (int64_t)time(NULL));
    }
    jw_key(w, "error");
    if (st == RESP_FAILED) {
        jw_obj(w);
        jw_key(w, "code");
        jw_str(w, "server_error");
        jw_key(w, "message");
        jw_str(w, fail_msg ? fail_msg : "");
        jw_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "incomplete_details");
    if (st == RESP_INCOMPLETE) {
        jw_obj(w);
        jw_key(w, "reason");
        jw_str(w, "max_output_tokens");
        jw_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "model");
    jw_str(w, call->model);
    jw_key(w, "output");
    jw_arr(w);
    if (st != RESP_IN_PROGRESS) resp__output(w, call, st == RESP_COMPLETED ? "completed" : "incomplete");
    jw_end(w);
    jw_key(w, "usage");
    if (st == RESP_IN_PROGRESS || !g) {
        jw_null(w);
    } else {
        jw_obj(w);
        jw_key(w, "input_tokens");
        jw_int(w, call->prompt_tokens);
        jw_key(w, "input_tokens_details");
        jw_obj(w);
        jw_key(w, "cached_tokens");
        jw_int(w, g->n_cached);
        jw_end(w);
        jw_key(w, "output_tokens");
        jw_int(w, g->n_tokens);
        jw_key(w, "output_tokens_details");
        jw_obj(w);
        jw_key(w, "reasoning_tokens");
        jw_int(w, g->n_reasoning);
        jw_end(w);
        jw_key(w, "total_tokens");
        jw_int(w, (int64_t)call->prompt_tokens + g->n_tokens);
        jw_end(w);
    }
    resp__echo(w, call->spec.resp->echo);
    jw_end(w);
}

/* Starts an event: "event: TYPE\ndata: {"type":TYPE,"sequence_number":N" (the object stays open). */
static void resp__event_begin(jw_t *w, api_call_t *call, const char *type) {
    jw_bytes(w, "event: ", 7);
    jw_bytes(w, type, strlen(type));
    jw_bytes(w, "\ndata: ", 7);
    jw_obj(w);
    jw_key(w, "type");
    jw_str(w, type);
    jw_key(w, "sequence_number");
    jw_int(w, call->spec.resp->seq++);
}

/* Closes the event's object and frame and writes it to the sink. */
static void resp__event_send(jw_t *w, api_call_t *call) {
    jw_end(w);
    jw_bytes(w, "\n\n", 2);
    size_t n = 0;
    char *f = jw_finish(w, &n);
    if (f && call->sink) call->sink->stream_write(call->sink, f, n);
    free(f);
}

/* The output_index of an item already opened (its position in the order). */
static int64_t resp__index(const api_call_t *call, int32_t item) {
    const api_resp_t *r = call->spec.resp;
    for (size_t i = 0; i < r->n_items; i++)
        if (r->items[i] == item) return (int64_t)i;
    return 0;
}

/* The item_id, output_index and (content) content_index members of an item's events. */
static void resp__where_item(jw_t *w, const api_call_t *call, int32_t item, bool content) {
    char id[64];
    const char *item_id = item == RESP_ITEM_MESSAGE ? call->spec.resp->msg_id : call->spec.resp->rs_id;
    if (item >= 0) {
        resp__fc_id(resp__gen(call), (size_t)item, id, sizeof id);
        item_id = id;
    }
    jw_key(w, "item_id");
    jw_str(w, item_id);
    jw_key(w, "output_index");
    jw_int(w, resp__index(call, item));
    if (content) {
        jw_key(w, "content_index");
        jw_int(w, 0);
    }
}

/* response.created / in_progress / completed / incomplete / failed: {response}. */
static void resp__response_event(api_call_t *call, const char *type, resp_status_t st, const char *fail_msg) {
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call, type);
    jw_key(&w, "response");
    resp__object(&w, call, st, fail_msg);
    resp__event_send(&w, call);
}

void api__resp_open(api_call_t *call) {
    call->sink->stream_open(call->sink);
    resp__response_event(call, "response.created", RESP_IN_PROGRESS, NULL);
    resp__response_event(call, "response.in_progress", RESP_IN_PROGRESS, NULL);
}

/* output_item.added for an item, and for the message and reasoning their content part. */
static void resp__open_item(api_call_t *call, int32_t item) {
    api_resp_t *r = call->spec.resp;
    if (resp__push_item(r, item)) {
        call->failed = true;
        snprintf(call->fail_msg, sizeof call->fail_msg, "out of memory");
        return;
    }
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call, "response.output_item.added");
    jw_key(&w, "output_index");
    jw_int(&w, (int64_t)r->n_items - 1);
    jw_key(&w, "item");
    if (item == RESP_ITEM_REASONING)
        resp__reasoning_item(&w, call, "in_progress", false);
    else if (item == RESP_ITEM_MESSAGE)
        resp__message(&w, call, "in_progress", false);
    else
        resp__call_item(&w, call, (size_t)item, "in_progress", false);
    resp__event_send(&w, call);
    if (item >= 0) return;
    jw_init(&w);
    resp__event_begin(&w, call, "response.content_part.added");
    resp__where_item(&w, call, item, true);
    jw_key(&w, "part");
    if (item == RESP_ITEM_MESSAGE) {
        resp__part(&w, call, "", 0, false);
    } else {
        jw_obj(&w);
        jw_key(&w, "type");
        jw_str(&w, "reasoning_text");
        jw_key(&w, "text");
        jw_str(&w, "");
        jw_end(&w);
    }
    resp__event_send(&w, call);
}

/* A text delta of the message (output_text) or the reasoning (reasoning_text), or a call's arguments. */
static void resp__delta(api_call_t *call, int32_t item, const char *d, size_t n) {
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call,
                      item == RESP_ITEM_MESSAGE     ? "response.output_text.delta"
                      : item == RESP_ITEM_REASONING ? "response.reasoning_text.delta"
                                                    : "response.function_call_arguments.delta");
    resp__where_item(&w, call, item, item < 0);
    jw_key(&w, "delta");
    jw_strn(&w, d, n);
    if (item == RESP_ITEM_MESSAGE) { /* the entries of the tokens the parser has settled since the last delta */
        api_resp_t *r = call->spec.resp;
        const api_gen_t *g = resp__gen(call);
        size_t from = r->lp_sent, decided = g && g->tfp ? api__tf_decided(g->tfp) : SIZE_MAX;
        while (g && r->lp_sent < g->n_lp && resp__in_off(call, g->lp[r->lp_sent].end) <= decided)
            r->lp_sent++;
        jw_key(&w, "logprobs");
        resp__lp_list(&w, call, from, r->lp_sent);
    }
    resp__event_send(&w, call);
}

/* The closing events of an item: its text's .done and content_part.done (message, reasoning) or the arguments'
   .done (call), then output_item.done with the whole item. */
static void resp__close_item(api_call_t *call, int32_t item, const char *status) {
    const api_gen_t *g = resp__gen(call);
    jw_t w;
    size_t n;
    const char *text;
    jw_init(&w);
    if (item == RESP_ITEM_MESSAGE || item == RESP_ITEM_REASONING) {
        bool msg = item == RESP_ITEM_MESSAGE;
        text = msg ? resp__content(g, &n) : resp__reasoning(g, &n);
        resp__event_begin(&w, call, msg ? "response.output_text.done" : "response.reasoning_text.done");
        resp__where_item(&w, call, item, true);
        jw_key(&w, "text");
        jw_strn(&w, text, n);
        if (msg) {
            jw_key(&w, "logprobs");
            resp__lp_list(&w, call, 0, SIZE_MAX);
        }
        resp__event_send(&w, call);
        jw_init(&w);
        resp__event_begin(&w, call, "response.content_part.done");
        resp__where_item(&w, call, item, true);
        jw_key(&w, "part");
        if (msg) {
            resp__part(&w, call, text, n, true);
        } else {
            jw_obj(&w);
            jw_key(&w, "type");
            jw_str(&w, "reasoning_text");
            jw_key(&w, "text");
            jw_strn(&w, text, n);
            jw_end(&w);
        }
    } else {
        const api_tf_call_t *tc = api__tf_call(g->tfp, (size_t)item);
        resp__event_begin(&w, call, "response.function_call_arguments.done");
        resp__where_item(&w, call, item, false);
        jw_key(&w, "name");
        jw_str(&w, tc->name);
        jw_key(&w, "arguments");
        jw_strn(&w, tc->args ? tc->args : "", tc->args_len);
    }
    resp__event_send(&w, call);
    jw_init(&w);
    resp__event_begin(&w, call, "response.output_item.done");
    jw_key(&w, "output_index");
    jw_int(&w, resp__index(call, item));
    jw_key(&w, "item");
    if (item == RESP_ITEM_REASONING)
        resp__reasoning_item(&w, call, "completed", true);
    else if (item == RESP_ITEM_MESSAGE)
        resp__message(&w, call, status, true);
    else
        resp__call_item(&w, call, (size_t)item, "completed", true);
    resp__event_send(&w, call);
}

/* The reasoning item, once the answer or a call begins. */
static void resp__close_reasoning(api_call_t *call) {
    api_resp_t *r = call->spec.resp;
    if (r->rs_open && !r->rs_closed) {
        r->rs_closed = true;
        resp__close_item(call, RESP_ITEM_REASONING, "completed");
    }
}

void api__resp_progress(api_call_t *call, api_gen_t *g) {
    api_resp_t *r = call->spec.resp;
    size_t rl, cl;
    const char *rt = resp__reasoning(g, &rl), *ct = resp__content(g, &cl);
    if (rl > g->reasoning_sent && !r->rs_closed) {
        if (!r->rs_open) {
            r->rs_open = true;
            resp__open_item(call, RESP_ITEM_REASONING);
        }
        resp__delta(call, RESP_ITEM_REASONING, rt + g->reasoning_sent, rl - g->reasoning_sent);
        g->reasoning_sent = rl;
    }
    if (cl > g->content_sent) {
        resp__close_reasoning(call);
        if (!r->msg_open) {
            r->msg_open = true;
            resp__open_item(call, RESP_ITEM_MESSAGE);
        }
        resp__delta(call, RESP_ITEM_MESSAGE, ct + g->content_sent, cl - g->content_sent);
        g->content_sent = cl;
    }
    for (size_t i = 0; i < g->n_calls; i++) {
        const api_tf_call_t *tc = api__tf_call(g->tfp, i);
        api_gen_call_t *gc = &g->calls[i];
        if (!tc->name) break;
        if (!gc->announced) {
            resp__close_reasoning(call);
            gc->announced = true;
            resp__open_item(call, (int32_t)i);
        }
        if (tc->args_len > gc->args_sent) {
            resp__delta(call, (int32_t)i, tc->args + gc->args_sent, tc->args_len - gc->args_sent);
            gc->args_sent = tc->args_len;
        }
        if (tc->complete && !gc->closed) {
            gc->closed = true;
            resp__close_item(call, (int32_t)i, "completed");
        }
    }
}

/* The `error` event of a stream that cannot end normally. */
static void resp__error_event(api_call_t *call, const char *code, const char *msg) {
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call, "error");
    jw_key(&w, "code");
    jw_str(&w, code);
    jw_key(&w, "message");
    jw_str(&w, msg);
    jw_key(&w, "param");
    jw_null(&w);
    resp__event_send(&w, call);
}

/* Writes the finished response to the store (store: true). 0, or an error with msg. */
static int resp__store(api_call_t *call, const char *response, char *msg, size_t cap) {
    api_resp_t *r = call->spec.resp;
    api_ctx_t *c = call->ctx;
    if (!r->store) return 0;
    if (!c || !c->store) return snprintf(msg, cap, "the responses store is closed"), -1;
    const api_gen_t *g = resp__gen(call);
    cJSON *conv = cJSON_Duplicate(r->conversation, true), *m = cJSON_CreateObject();
    bool ok = conv && m && cJSON_AddItemToArray(conv, m);
    if (!ok) cJSON_Delete(m);
    ok = ok && cJSON_AddStringToObject(m, "role", "assistant");
    size_t cl;
    const char *content = resp__content(g, &cl);
    char *text = strndup(content, cl);
    ok = ok && text && cJSON_AddStringToObject(m, "content", text);
    free(text);
    size_t nc = resp__n_calls(g); /* the calls, as chat history carries them (the next turn's template sees them) */
    cJSON *calls = nc && ok ? cJSON_AddArrayToObject(m, "tool_calls") : NULL;
    for (size_t i = 0; ok && i < nc; i++) {
        const api_tf_call_t *tc = api__tf_call(g->tfp, i);
        cJSON *o = cJSON_CreateObject(), *fn;
        char *args = strndup(tc->args ? tc->args : "", tc->args_len);
        ok = calls && o && args && cJSON_AddItemToArray(calls, o) && cJSON_AddStringToObject(o, "id", g->calls[i].id) &&
             cJSON_AddStringToObject(o, "type", "function") && (fn = cJSON_AddObjectToObject(o, "function")) &&
             cJSON_AddStringToObject(fn, "name", tc->name) && cJSON_AddStringToObject(fn, "arguments", args);
        if (!ok && o && !o->prev) cJSON_Delete(o);
        free(args);
    }
    char *conv_s = ok ? cJSON_PrintUnformatted(conv) : NULL;
    char *items_s = ok ? cJSON_PrintUnformatted(r->input_items) : NULL;
    cJSON_Delete(conv);
    int rc = -1;
    if (!conv_s || !items_s) {
        snprintf(msg, cap, "out of memory");
    } else {
        resp_row_t row = {.id = call->id,
                          .created_at = call->created,
                          .response = response,
                          .input_items = items_s,
                          .conversation = conv_s};
        int64_t pruned = 0;
        int64_t now = c->fixed_created ? c->fixed_created : (int64_t)time(NULL);
        rc = resp_store_put(c->store, r->key, &row, now, &pruned, msg, cap);
        if (!rc) {
            c->resp_stored++;
            c->resp_pruned += (uint64_t)pruned;
        }
    }
    cJSON_free(conv_s);
    cJSON_free(items_s);
    return rc;
}

void api__resp_finish(api_call_t *call) {
    const api_gen_t *g = resp__gen(call);
    bool failed = call->failed, cancelled = call->cancelled && !failed;
    resp_status_t st = failed                                           ? RESP_FAILED
                       : g && g->finish && !strcmp(g->finish, "length") ? RESP_INCOMPLETE
                                                                        : RESP_COMPLETED;
    api_err_t e;
    if (cancelled) {
        const char *msg = "The server is shutting down; the request was cancelled.";
        if (call->stream) {
            resp__error_event(call, "server_error", msg);
            call->sink->stream_close(call->sink);
        } else {
            api_err_set(&e, 0, 503, "server_error", NULL, NULL, "%s", msg);
            api__send_error(call->sink, &e);
        }
        return;
    }
    if (failed && !call->stream) {
        api_err_set(&e, 0, 500, "server_error", NULL, NULL, "%s", call->fail_msg);
        api__send_error(call->sink, &e);
        return;
    }
    if (call->stream && !failed) { /* what is still open closes before the terminal event */
        api_resp_t *r = call->spec.resp;
        const char *status = st == RESP_INCOMPLETE ? "incomplete" : "completed";
        resp__close_reasoning(call);
        size_t opened = r->n_items;
        resp__settle_order(call); /* items never streamed (an empty message) open now */
        for (size_t i = opened; i < r->n_items; i++) {
            int32_t it = r->items[i];
            r->n_items = i; /* resp__open_item appends it again */
            resp__open_item(call, it);
            if (it == RESP_ITEM_REASONING) r->rs_open = r->rs_closed = true;
            if (it == RESP_ITEM_MESSAGE) r->msg_open = true;
            if (it >= 0) g->calls[it].announced = true;
        }
        for (size_t i = 0; i < r->n_items; i++) {
            int32_t it = r->items[i];
            if (it == RESP_ITEM_MESSAGE) resp__close_item(call, it, status);
            if (it >= 0 && !g->calls[it].closed) {
                g->calls[it].closed = true; /* cut by the token limit: what it has */
                resp__close_item(call, it, "completed");
            }
        }
    } else if (!failed) {
        resp__settle_order(call);
    }
    /* the final object: stored first (not a failed one), then sent */
    jw_t w;
    jw_init(&w);
    resp__object(&w, call, st, call->fail_msg);
    size_t n = 0;
    char *body = jw_finish(&w, &n);
    char msg[512] = "";
    int rc = -1;
    if (!body)
        snprintf(msg, sizeof msg, "out of memory");
    else
        rc = failed ? 0 : resp__store(call, body, msg, sizeof msg);
    if (!call->stream) {
        if (rc) {
            api_err_set(&e, 0, 500, "server_error", NULL, NULL, "The response could not be stored: %s", msg);
            api__send_error(call->sink, &e);
        } else {
            call->sink->respond(call->sink, 200, NULL, 0, body, n);
        }
    } else {
        if (rc)
            resp__error_event(call, "server_error", msg);
        else
            resp__response_event(call,
                                 st == RESP_FAILED       ? "response.failed"
                                 : st == RESP_INCOMPLETE ? "response.incomplete"
                                                         : "response.completed",
                                 st, call->fail_msg);
        call->sink->stream_close(call->sink);
    }
    free(body);
}
