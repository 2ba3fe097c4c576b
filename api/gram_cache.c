/*
 * gram_cache.c — compiled grammars kept per model, keyed by what they were compiled from (the response_format
 * schema, or the tools and the call format), so that requests repeating a schema — an app's extraction pipeline,
 * an agent's tool list — reuse one grammar and, above all, its per-position token-mask cache, which is what a
 * fresh grammar pays for on its first tokens (about a millisecond per new parse position on a 150k vocabulary).
 *
 * A few entries per model (API_GCACHE_MAX), least recently used evicted; each holds one reference (gram_retain)
 * and each request its own, so an evicted grammar lives on until its last request ends. Per model, because a
 * grammar's mask cache is bound to the vocabulary of the first matcher made from it.
 * Loop thread only (the references themselves are thread-safe).
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

gram_t *api__gcache_get(api_slot_t *m, const char *key, api_tf_triggers_t *trig) {
    for (size_t i = 0; i < API_GCACHE_MAX; i++) {
        api_gcache_entry_t *e = &m->gcache[i];
        if (e->key && !strcmp(e->key, key)) {
            e->used = ++m->gcache_clock;
            if (trig) *trig = e->trig;
            return gram_retain(e->g);
        }
    }
    return NULL;
}

void api__gcache_put(api_slot_t *m, const char *key, gram_t *g, const api_tf_triggers_t *trig) {
    api_gcache_entry_t *slot = &m->gcache[0];
    for (size_t i = 0; i < API_GCACHE_MAX; i++) { /* an empty entry, else the least recently used */
        api_gcache_entry_t *e = &m->gcache[i];
        if (!e->key) {
            slot = e;
            break;
        }
        if (e->used < slot->used) slot = e;
    }
    char *k = strdup(key);
    if (!k) return; /* not cached: only a missed reuse */
    free(slot->key);
    gram_free(slot->g);
    slot->key = k;
    slot->g = gram_retain(g);
    slot->trig = trig ? *trig : (api_tf_triggers_t){0};
    slot->used = ++m->gcache_clock;
}

void api__gcache_clear(api_slot_t *m) {
    for (size_t i = 0; i < API_GCACHE_MAX; i++) {
        free(m->gcache[i].key);
        gram_free(m->gcache[i].g);
    }
    memset(m->gcache, 0, sizeof m->gcache);
}
