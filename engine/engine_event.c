/*
 * engine_event.c — deep copies of engine events (engine_event_size / engine_event_copy, see engine.h): the one
 * place that knows which pointers an event carries, so that a callback can queue an event for another thread.
 * Pure functions; any thread.
 */
#include <string.h>

#include "engine.h"

/* The parts of an event's deep copy after the struct: the arrays (4-byte elements) first, then the bytes. */
static size_t engine__event_tail(const engine_event_t *ev, size_t *n_top, size_t *n_emb, size_t *n_msg) {
    *n_top = ev->n_top > 0 && ev->top_ids && ev->top_logprobs ? (size_t)ev->n_top : 0;
    *n_emb = ev->n_embedding > 0 && ev->embedding ? (size_t)ev->n_embedding : 0;
    *n_msg = ev->err_msg ? strlen(ev->err_msg) + 1 : 0;
    return *n_top * (sizeof(int32_t) + sizeof(float)) + *n_emb * sizeof(float) + (ev->text ? ev->text_len : 0) +
           *n_msg;
}

size_t engine_event_size(const engine_event_t *ev) {
    size_t n_top, n_emb, n_msg;
    return sizeof *ev + engine__event_tail(ev, &n_top, &n_emb, &n_msg);
}

engine_event_t *engine_event_copy(const engine_event_t *ev, void *buf, size_t cap) {
    size_t n_top, n_emb, n_msg;
    if (!buf || cap < sizeof *ev + engine__event_tail(ev, &n_top, &n_emb, &n_msg)) return NULL;
    engine_event_t *c = buf;
    *c = *ev;
    char *p = (char *)(c + 1); /* sizeof(engine_event_t) keeps what follows 8-byte aligned */
    c->top_ids = NULL;
    c->top_logprobs = NULL;
    c->n_top = (int)n_top;
    if (n_top) {
        memcpy(p, ev->top_ids, n_top * sizeof(int32_t));
        c->top_ids = (const int32_t *)(void *)p;
        p += n_top * sizeof(int32_t);
        memcpy(p, ev->top_logprobs, n_top * sizeof(float));
        c->top_logprobs = (const float *)(void *)p;
        p += n_top * sizeof(float);
    }
    c->embedding = NULL;
    c->n_embedding = (int32_t)n_emb;
    if (n_emb) {
        memcpy(p, ev->embedding, n_emb * sizeof(float));
        c->embedding = (const float *)(void *)p;
        p += n_emb * sizeof(float);
    }
    c->text = p; /* never NULL in a copy: consumers may read text with text_len 0 */
    c->text_len = ev->text ? ev->text_len : 0;
    if (c->text_len) {
        memcpy(p, ev->text, c->text_len);
        p += c->text_len;
    }
    c->err_msg = NULL;
    if (n_msg) {
        memcpy(p, ev->err_msg, n_msg);
        c->err_msg = p;
    }
    return c;
}
