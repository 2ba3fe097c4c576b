/*
 * engine_event.c — deep copies of engine events (engine.h), for callers that move an event to another thread:
 * the struct, then what its pointers reach (top alternatives, the embedding, the text, the error message) in one
 * buffer, so the copy lives as long as the buffer. Any thread; no allocation.
 */
#include <stdint.h>
#include <string.h>

#include "engine.h"

/* Offsets of each part inside the copy; returns the total size. */
static size_t event__layout(const engine_event_t *ev, size_t *top_ids, size_t *top_lp, size_t *emb, size_t *text,
                            size_t *msg) {
    size_t k = sizeof(engine_event_t);
    size_t n_top = ev->n_top > 0 && ev->top_ids && ev->top_logprobs ? (size_t)ev->n_top : 0;
    size_t n_emb = ev->n_embedding > 0 && ev->embedding ? (size_t)ev->n_embedding : 0;
    *top_ids = k;
    k += n_top * sizeof(int32_t);
    *top_lp = k;
    k += n_top * sizeof(float);
    *emb = k;
    k += n_emb * sizeof(float);
    *text = k;
    k += ev->text ? ev->text_len : 0;
    *msg = k;
    k += ev->err_msg ? strlen(ev->err_msg) + 1 : 0;
    return k;
}

size_t engine_event_size(const engine_event_t *ev) {
    size_t a, b, c, d, e;
    return event__layout(ev, &a, &b, &c, &d, &e);
}

engine_event_t *engine_event_copy(const engine_event_t *ev, void *buf, size_t cap) {
    size_t o_ids, o_lp, o_emb, o_text, o_msg;
    size_t need = event__layout(ev, &o_ids, &o_lp, &o_emb, &o_text, &o_msg);
    if (!buf || cap < need) return NULL;
    char *b = buf;
    engine_event_t *out = (engine_event_t *)(void *)b;
    *out = *ev;
    size_t n_top = (o_lp - o_ids) / sizeof(int32_t), n_emb = (o_text - o_emb) / sizeof(float);
    out->n_top = (int)n_top;
    out->top_ids = n_top ? memcpy(b + o_ids, ev->top_ids, n_top * sizeof(int32_t)) : NULL;
    out->top_logprobs = n_top ? memcpy(b + o_lp, ev->top_logprobs, n_top * sizeof(float)) : NULL;
    out->n_embedding = (int32_t)n_emb;
    out->embedding = n_emb ? memcpy(b + o_emb, ev->embedding, n_emb * sizeof(float)) : NULL;
    out->text = ev->text ? memcpy(b + o_text, ev->text, ev->text_len) : NULL;
    if (!ev->text) out->text_len = 0;
    out->err_msg = ev->err_msg ? memcpy(b + o_msg, ev->err_msg, need - o_msg) : NULL;
    return out;
}
