/*
 * resp_render.c — /v1/responses output: the response object, its semantic SSE events, and storing it.
 *
 * The response object (OpenAI's shape):
 *   {id, object:"response", created_at, status, completed_at?, error, incomplete_details, model, output:[message],
 *    usage, ...the request's settings echoed (responses.c builds them)}
 * with one output item, the assistant message {id, type:"message", status, role, content:[output_text{text,
 * annotations:[], logprobs:[]}]}. status: completed; incomplete with incomplete_details.reason
 * "max_output_tokens" when generation stopped at the token limit (max_output_tokens or the context);
 * failed with error {code, message} when the engine failed. usage: input_tokens (+ input_tokens_details.
 * cached_tokens, from the prefix cache), output_tokens (+ output_tokens_details.reasoning_tokens, 0: thinking is
 * not split out of the text yet), total_tokens.
 *
 * Streaming: every event is "event: TYPE\ndata: {"type":TYPE,"sequence_number":N,...}\n\n", N from 0 up by one:
 *   response.created, response.in_progress, response.output_item.added, response.content_part.added   (at start)
 *   response.output_text.delta ...                                                                    (text)
 *   response.output_text.done, response.content_part.done, response.output_item.done,
 *   response.completed | response.incomplete                                                          (at the end)
 * An engine failure ends with response.failed (the response with status failed); a shutdown, or a store that
 * cannot be written, with an `error` event {type, code, message, param, sequence_number}.
 *
 * Storing (store: true): the final response, its input items and its conversation (the messages it saw without
 * instructions, plus its answer) are written to the store before the response or its terminal event goes out,
 * so a response a client received is one GET and previous_response_id can find, across restarts.
 * Loop thread only (see api.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "jw.h"
#include "resp_store.h"

typedef enum { RESP_IN_PROGRESS, RESP_COMPLETED, RESP_INCOMPLETE, RESP_FAILED } resp_status_t;

static const char *const resp__status_names[] = {"in_progress", "completed", "incomplete", "failed"};

static const api_gen_t *resp__gen(const api_call_t *call) { return call->n_gens ? &call->gens[0] : NULL; }

/* The output_text part {type, text, annotations, logprobs}. */
static void resp__part(jw_t *w, const char *text, size_t len) {
    jw_obj(w);
    jw_key(w, "type");
    jw_str(w, "output_text");
    jw_key(w, "text");
    jw_strn(w, text ? text : "", text ? len : 0);
    jw_key(w, "annotations");
    jw_arr(w);
    jw_end(w);
    jw_key(w, "logprobs");
    jw_arr(w);
    jw_end(w);
    jw_end(w);
}

/* The message item; with_content false: content [] (the in-progress item of output_item.added). */
static void resp__message(jw_t *w, const api_call_t *call, const char *status, bool with_content) {
    const api_gen_t *g = resp__gen(call);
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
    if (with_content) resp__part(w, g ? g->text : NULL, g ? g->len : 0);
    jw_end(w);
    jw_end(w);
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
    if (st != RESP_IN_PROGRESS) resp__message(w, call, st == RESP_COMPLETED ? "completed" : "incomplete", true);
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
        jw_int(w, 0);
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

/* The item_id, output_index and content_index members of text events. */
static void resp__where(jw_t *w, const api_call_t *call, bool content) {
    jw_key(w, "item_id");
    jw_str(w, call->spec.resp->msg_id);
    jw_key(w, "output_index");
    jw_int(w, 0);
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
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call, "response.output_item.added");
    jw_key(&w, "output_index");
    jw_int(&w, 0);
    jw_key(&w, "item");
    resp__message(&w, call, "in_progress", false);
    resp__event_send(&w, call);
    jw_init(&w);
    resp__event_begin(&w, call, "response.content_part.added");
    resp__where(&w, call, true);
    jw_key(&w, "part");
    resp__part(&w, "", 0);
    resp__event_send(&w, call);
}

char *api__resp_delta(api_call_t *call, const api_gen_t *g, size_t from, size_t to, size_t *len) {
    jw_t w;
    jw_init(&w);
    resp__event_begin(&w, call, "response.output_text.delta");
    resp__where(&w, call, true);
    jw_key(&w, "delta");
    jw_strn(&w, g->text ? g->text + from : "", g->text ? to - from : 0);
    jw_key(&w, "logprobs");
    jw_arr(&w);
    jw_end(&w);
    jw_end(&w);
    jw_bytes(&w, "\n\n", 2);
    return jw_finish(&w, len);
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
    char *text = g && g->text ? strndup(g->text, g->len) : strdup("");
    ok = ok && text && cJSON_AddStringToObject(m, "content", text);
    free(text);
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
    if (call->stream && !failed) { /* the text's closing events, before the terminal one */
        jw_t w;
        jw_init(&w);
        resp__event_begin(&w, call, "response.output_text.done");
        resp__where(&w, call, true);
        jw_key(&w, "text");
        jw_strn(&w, g && g->text ? g->text : "", g && g->text ? g->len : 0);
        jw_key(&w, "logprobs");
        jw_arr(&w);
        jw_end(&w);
        resp__event_send(&w, call);
        jw_init(&w);
        resp__event_begin(&w, call, "response.content_part.done");
        resp__where(&w, call, true);
        jw_key(&w, "part");
        resp__part(&w, g ? g->text : NULL, g ? g->len : 0);
        resp__event_send(&w, call);
        jw_init(&w);
        resp__event_begin(&w, call, "response.output_item.done");
        jw_key(&w, "output_index");
        jw_int(&w, 0);
        jw_key(&w, "item");
        resp__message(&w, call, st == RESP_INCOMPLETE ? "incomplete" : "completed", true);
        resp__event_send(&w, call);
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
