/*
 * gram_mask.c — token masks: a pruned walk of the vocabulary trie, and a per-position cache of the
 * context-independent part (xgrammar's idea) so that most steps only look up sets and check a few tokens.
 *
 * The walk (gm__walk) descends the trie carrying the parse set of each depth: a node's set is its parent's set
 * advanced by the node's byte; a token is viable when the set at its node is not empty; an empty set (or one
 * holding only "the bottom frame ended") prunes the whole subtree.
 *
 * The cache: a matcher's parses wait at GE_SET positions. Take the top n frames of a parse (its key) and walk
 * the trie from a parse holding only those frames (no caller below them). A token consumed entirely inside them
 * is accepted whatever the callers are: "accepted". A token that dies inside them is rejected whatever the
 * callers are. Only tokens that run past the end of the bottom frame depend on the callers: "uncertain".
 * Entries are hierarchical: a base entry on GRAM_CACHE_BASE frames comes from one trie walk (so all strings of a
 * grammar share the walk of their shared string rule); an entry on n + 1 frames re-classifies just the uncertain
 * tokens of the entry on n frames with one more frame (inside a string, the frame after the closing quote
 * decides `",` or `"}`), up to GRAM_CACHE_FRAMES. gram_matcher_fill_mask ORs the accepted sets along that chain
 * for each parse and checks only what is still uncertain against the real parse.
 * Entries are kept for the grammar's life (shared by all its matchers); a base entry holds the smallest of its
 * accepted list, its rejected list or an accepted mask, plus the uncertain list.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

enum { GM_REJ = 0, GM_ACC = 1, GM_UNC = 2 };

/*
 * Walks the trie from the parse set start[0..n_start) (in m's arena, which is rolled back afterwards).
 * bottomless: GM_END means "left the frame" (cache mode) rather than "document complete". Marks each token's
 * class in cls (cache mode) or sets accepted tokens' bits in mask (mask mode). Returns 0 or ERR_NOMEM.
 */
static int gm__walk(gram_matcher_t *m, const uint32_t *start, uint32_t n_start, bool bottomless, uint8_t *cls,
                    uint32_t *mask) {
    const gram_t *g = gm__grammar(m);
    const gram_vocab_t *v = gm__vocab(m);
    gm_arena_t *a = gm__arena(m);
    const gram_tnode_t *tr = v->trie;
    uint32_t depth_cap = v->max_len + 2;
    size_t need = (size_t)n_start + GRAM_MAX_STACKS;
    uint32_t *lvl = gm__lvl(m, need);
    uint32_t *off = malloc(depth_cap * 3 * sizeof *off); /* per depth: set offset, set size, arena mark */
    uint8_t *popped = calloc(depth_cap, 1);
    int rc = ERR_NOMEM;
    if (!lvl || !off || !popped) goto cleanup;
    uint32_t *cnt = off + depth_cap, *mark = off + 2 * depth_cap;
    uint32_t arena0 = a->n;
    memcpy(lvl, start, (size_t)n_start * sizeof *lvl);
    off[0] = 0;
    cnt[0] = n_start;
    mark[0] = a->n;
    popped[0] = 0;

    for (uint32_t i = 1; i < v->n_trie;) {
        const gram_tnode_t *nd = &tr[i];
        uint32_t d = nd->depth;
        a->n = mark[d - 1];
        uint32_t o = off[d - 1] + cnt[d - 1];
        lvl = gm__lvl(m, (size_t)o + GRAM_MAX_STACKS);
        if (!lvl) goto cleanup;
        uint32_t n = 0;
        if (gm_advance(g, a, lvl + off[d - 1], cnt[d - 1], nd->byte, lvl + o, &n)) goto cleanup;
        off[d] = o;
        cnt[d] = n;
        mark[d] = a->n;
        bool live = gm_has_live(lvl + o, n);
        popped[d] = popped[d - 1];
        if (bottomless)
            for (uint32_t k = 0; k < n; k++)
                if (lvl[o + k] == GM_END) popped[d] = 1;
        uint32_t t0 = nd->tok_lo, t1 = tr[i + 1].tok_lo;
        if (n > 0) {
            for (uint32_t k = t0; k < t1; k++) {
                int32_t id = v->toks[k];
                if (cls) cls[id] = GM_ACC;
                if (mask) mask[id >> 5] |= 1u << (id & 31);
            }
        } else if (cls && popped[d - 1]) {
            for (uint32_t k = t0; k < t1; k++)
                cls[v->toks[k]] = GM_UNC;
        }
        if (!live) {
            if (cls && popped[d]) {
                uint32_t t2 = tr[nd->end].tok_lo;
                for (uint32_t k = t1; k < t2; k++)
                    cls[v->toks[k]] = GM_UNC;
            }
            i = nd->end;
            continue;
        }
        i++;
    }
    a->n = arena0;
    rc = 0;
cleanup:
    free(off);
    free(popped);
    return rc;
}

/* ---- the cache ---------------------------------------------------------------------------------------- */

/* The key of top t: the positions of its top n frames (padded with UINT32_MAX). Returns the frames t has, up to
   GRAM_CACHE_FRAMES. */
static uint32_t gm__key(const gm_arena_t *a, uint32_t t, uint32_t n, uint32_t *key) {
    uint32_t have = 0;
    for (uint32_t k = 0; k < GRAM_CACHE_FRAMES; k++) {
        key[k] = t == GM_NONE || k >= n ? UINT32_MAX : a->nodes[t].pos;
        if (t != GM_NONE) {
            have++;
            t = a->nodes[t].parent;
        }
    }
    return have;
}

static uint32_t gm__key_hash(const uint32_t *key) {
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < GRAM_CACHE_FRAMES; k++)
        h = (h ^ key[k]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

/* Pushes the key's frames, bottom first, with nothing below them; returns the top or GM_NONE (no memory). */
static uint32_t gm__key_stack(gm_arena_t *a, const uint32_t *key) {
    uint32_t top = GM_NONE;
    for (int k = GRAM_CACHE_FRAMES; k-- > 0;) {
        if (key[k] == UINT32_MAX) continue;
        if (a->n == a->cap) {
            uint32_t cap = a->cap ? a->cap * 2 : 1024;
            gm_node_t *nn = realloc(a->nodes, (size_t)cap * sizeof *nn);
            if (!nn) return GM_NONE;
            a->nodes = nn;
            a->cap = cap;
        }
        uint32_t depth = top == GM_NONE ? 1 : a->nodes[top].depth + 1;
        a->nodes[a->n] = (gm_node_t){key[k], top, depth};
        top = a->n++;
    }
    return top;
}

/* One token against a bottomless parse from top (the walk's rules for a single path): GM_ACC, GM_REJ or
   GM_UNC. The arena is rolled back. */
static int gm__classify(gram_matcher_t *m, uint32_t top, const uint8_t *b, size_t n) {
    gm_arena_t *a = gm__arena(m);
    uint32_t mark = a->n;
    uint32_t *cur = gm__lvl(m, 2 * (size_t)GRAM_MAX_STACKS), n_cur = 1;
    if (!cur) return GM_UNC;
    uint32_t *nxt = cur + GRAM_MAX_STACKS;
    cur[0] = top;
    bool popped = false;
    int res = GM_ACC;
    for (size_t i = 0; i < n; i++) {
        uint32_t n_nxt = 0;
        if (gm_advance(gm__grammar(m), a, cur, n_cur, b[i], nxt, &n_nxt)) {
            res = GM_UNC; /* out of memory: let the real parse decide */
            break;
        }
        if (n_nxt == 0) {
            res = popped ? GM_UNC : GM_REJ;
            break;
        }
        for (uint32_t k = 0; k < n_nxt; k++)
            popped = popped || nxt[k] == GM_END;
        if (!gm_has_live(nxt, n_nxt) && i + 1 < n) {
            res = GM_UNC; /* left every frame with bytes to spare */
            break;
        }
        uint32_t *sw = cur;
        cur = nxt;
        nxt = sw;
        n_cur = n_nxt;
    }
    a->n = mark;
    return res;
}

/* A refined entry for key (n_frames = parent's + 1): the parent's uncertain tokens classified again. */
static gram_centry_t *gm__centry_refine(gram_matcher_t *m, const uint32_t *key, uint32_t n_frames,
                                        const gram_centry_t *parent) {
    const gram_vocab_t *v = gm__vocab(m);
    gm_arena_t *a = gm__arena(m);
    uint32_t mark = a->n;
    gram_centry_t *e = malloc(sizeof *e + (size_t)parent->n_unc * sizeof(int32_t));
    uint8_t *cls = malloc(parent->n_unc ? parent->n_unc : 1);
    uint32_t top = GM_NONE;
    if (!e || !cls || (top = gm__key_stack(a, key)) == GM_NONE) goto fail;
    const int32_t *unc = parent->ids + parent->n_list;
    uint32_t n_acc = 0;
    for (uint32_t k = 0; k < parent->n_unc; k++) {
        int32_t id = unc[k];
        cls[k] = (uint8_t)gm__classify(m, top, v->bytes + v->off[id], v->off[id + 1] - v->off[id]);
        n_acc += cls[k] == GM_ACC;
    }
    memcpy(e->key, key, sizeof e->key);
    e->n_frames = n_frames;
    e->list_is_rejected = false;
    e->bits = NULL;
    e->n_list = n_acc;
    e->n_unc = 0;
    for (uint32_t k = 0, li = 0, ui = n_acc; k < parent->n_unc; k++) {
        if (cls[k] == GM_ACC)
            e->ids[li++] = unc[k];
        else if (cls[k] == GM_UNC)
            e->ids[ui++] = unc[k], e->n_unc++;
    }
    a->n = mark;
    free(cls);
    return e;
fail:
    a->n = mark;
    free(e);
    free(cls);
    return NULL;
}

static gram_centry_t *gm__centry_build(gram_matcher_t *m, const uint32_t *key, uint32_t n_frames) {
    const gram_vocab_t *v = gm__vocab(m);
    gm_arena_t *a = gm__arena(m);
    gram_centry_t *e = NULL;
    uint8_t *cls = calloc((size_t)v->n_vocab, 1);
    if (!cls) return NULL;
    uint32_t mark = a->n;
    uint32_t top = gm__key_stack(a, key);
    if (top == GM_NONE) goto cleanup;
    if (gm__walk(m, &top, 1, true, cls, NULL)) goto cleanup;

    uint32_t n_acc = 0, n_rej = 0, n_unc = 0;
    for (uint32_t k = 0; k < v->n_toks; k++) {
        int32_t id = v->toks[k];
        n_acc += cls[id] == GM_ACC;
        n_unc += cls[id] == GM_UNC;
        n_rej += cls[id] == GM_REJ;
    }
    bool rej = n_rej < n_acc;
    uint32_t n_small = rej ? n_rej : n_acc;
    size_t words = gram_mask_words(v->n_vocab);
    bool dense = n_small > words; /* a list longer than a mask: keep the mask */
    uint32_t n_list = dense ? 0 : n_small;
    e = malloc(sizeof *e + ((size_t)n_list + n_unc) * sizeof(int32_t) + (dense ? words * sizeof(uint32_t) : 0));
    if (!e) goto cleanup;
    memcpy(e->key, key, sizeof e->key);
    e->n_frames = n_frames;
    e->n_list = n_list;
    e->n_unc = n_unc;
    e->list_is_rejected = rej && !dense;
    e->bits = dense ? (uint32_t *)(e->ids + n_list + n_unc) : NULL;
    if (dense) memset(e->bits, 0, words * sizeof *e->bits);
    uint32_t li = 0, ui = n_list;
    uint8_t want = rej ? GM_REJ : GM_ACC;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (v->off[id + 1] == v->off[id]) continue; /* not in the trie */
        if (cls[id] == GM_UNC)
            e->ids[ui++] = id;
        else if (dense && cls[id] == GM_ACC)
            e->bits[id >> 5] |= 1u << (id & 31);
        else if (!dense && cls[id] == want)
            e->ids[li++] = id;
    }
cleanup:
    a->n = mark;
    free(cls);
    return e;
}

/* The slot of key in g's table (empty or holding key). Called with g->mu held and cache_cap > 0. */
static uint32_t gm__slot(const gram_t *g, const uint32_t *key) {
    uint32_t j = gm__key_hash(key) & (g->cache_cap - 1);
    while (g->cache[j] && memcmp(g->cache[j]->key, key, sizeof g->cache[j]->key) != 0)
        j = (j + 1) & (g->cache_cap - 1);
    return j;
}

/* Inserts e (whose key is absent) into g's table, growing it. Called with g->mu held. */
static bool gm__insert(gram_t *g, gram_centry_t *e) {
    if ((g->n_cached + 1) * 2 > g->cache_cap) {
        uint32_t cap = g->cache_cap ? g->cache_cap * 2 : 64;
        gram_centry_t **old = g->cache, **nc = calloc(cap, sizeof *nc);
        if (!nc) return false;
        uint32_t old_cap = g->cache_cap;
        g->cache = nc;
        g->cache_cap = cap;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i]) g->cache[gm__slot(g, old[i]->key)] = old[i];
        free(old);
    }
    g->cache[gm__slot(g, e->key)] = e;
    g->n_cached++;
    return true;
}

/* The cache entry for the top n frames of top t, computed on first use (outside the lock: other matchers keep
   going; if two compute the same entry, the first insert wins): by a trie walk for a base entry (parent NULL),
   else by refining parent, the entry for n - 1 frames. NULL when out of memory. */
static const gram_centry_t *gm__centry_get(gram_matcher_t *m, uint32_t t, uint32_t n, const gram_centry_t *parent) {
    gram_t *g = gm__grammar(m);
    uint32_t key[GRAM_CACHE_FRAMES];
    gm__key(gm__arena(m), t, n, key);
    pthread_mutex_lock(&g->mu);
    gram_centry_t *e = g->cache_cap ? g->cache[gm__slot(g, key)] : NULL;
    pthread_mutex_unlock(&g->mu);
    if (e) return e;
    gram_centry_t *ne = parent ? gm__centry_refine(m, key, n, parent) : gm__centry_build(m, key, n);
    if (!ne) return NULL;
    pthread_mutex_lock(&g->mu);
    e = g->cache_cap ? g->cache[gm__slot(g, key)] : NULL;
    if (e) {
        free(ne);
    } else if (gm__insert(g, ne)) {
        e = ne;
    } else {
        free(ne);
    }
    pthread_mutex_unlock(&g->mu);
    return e;
}

void gram__cache_free(gram_t *g) {
    if (!g->cache) return;
    for (uint32_t i = 0; i < g->cache_cap; i++)
        free(g->cache[i]);
}

/* ---- masks ------------------------------------------------------------------------------------------ */

static void gm__set_eog(const gram_vocab_t *v, uint32_t *mask) {
    for (uint32_t i = 0; i < v->n_eog; i++)
        mask[v->eog[i] >> 5] |= 1u << (v->eog[i] & 31);
}

/* The waiting (lazy) mask: everything, except tokens that complete a trigger text and go on with bytes the
   grammar's start refuses. */
static int gm__fill_waiting(gram_matcher_t *m, uint32_t *mask) {
    const gram_vocab_t *v = gm__vocab(m);
    size_t words = gram_mask_words(v->n_vocab);
    memset(mask, 0xff, words * sizeof *mask);
    if (v->n_vocab & 31) mask[words - 1] = (1u << (v->n_vocab & 31)) - 1;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        const uint8_t *b = v->bytes + v->off[id];
        size_t n = v->off[id + 1] - v->off[id];
        if (n == 0 || gm__is_trigger_token(m, id)) continue;
        size_t end = gm__trigger_end(m, b, n);
        if (end && !gram_matcher_allows(m, id)) mask[id >> 5] &= ~(1u << (id & 31));
    }
    return 0;
}

int gram_matcher_fill_mask_nocache(gram_matcher_t *m, uint32_t *mask) {
    if (!m || !mask || !gm__vocab(m)) return ERR_INVAL;
    const gram_vocab_t *v = gm__vocab(m);
    size_t words = gram_mask_words(v->n_vocab);
    if (gram_matcher_waiting(m)) return gm__fill_waiting(m, mask);
    memset(mask, 0, words * sizeof *mask);
    if (gm__done(m)) return 0;
    uint32_t n_tops;
    const uint32_t *tops = gm__tops(m, &n_tops);
    /* the walk may grow the level buffer the tops could live in: copy them first */
    uint32_t *start = malloc(((size_t)n_tops + 1) * sizeof *start);
    if (!start) return ERR_NOMEM;
    memcpy(start, tops, (size_t)n_tops * sizeof *start);
    int rc = gm__walk(m, start, n_tops, false, NULL, mask);
    free(start);
    if (rc) {
        memset(mask, 0, words * sizeof *mask);
        return rc;
    }
    if (gram_matcher_accepting(m)) gm__set_eog(v, mask);
    return 0;
}

int gram_matcher_fill_mask(gram_matcher_t *m, uint32_t *mask) {
    if (!m || !mask || !gm__vocab(m)) return ERR_INVAL;
    const gram_vocab_t *v = gm__vocab(m);
    size_t words = gram_mask_words(v->n_vocab);
    if (gram_matcher_waiting(m)) return gm__fill_waiting(m, mask);
    memset(mask, 0, words * sizeof *mask);
    if (gm__done(m)) return 0;
    uint32_t n_tops;
    const uint32_t *tops = gm__tops(m, &n_tops);
    uint32_t *row = gm__row(m);
    const gram_centry_t *seen[64]; /* entries whose accepted set is already in */
    uint32_t n_seen = 0;

    for (uint32_t i = 0; i < n_tops; i++) {
        uint32_t t = tops[i];
        if (t == GM_END) continue;
        uint32_t key[GRAM_CACHE_FRAMES];
        uint32_t have = gm__key(gm__arena(m), t, GRAM_CACHE_FRAMES, key);
        uint32_t n = have < GRAM_CACHE_BASE ? have : GRAM_CACHE_BASE;
        const gram_centry_t *e = NULL;
        for (;;) {
            e = gm__centry_get(m, t, n, e);
            if (!e) goto nomem;
            bool dup = false;
            for (uint32_t k = 0; k < n_seen && !dup; k++)
                dup = seen[k] == e;
            if (!dup) {
                if (n_seen < 64) seen[n_seen++] = e;
                if (e->bits) {
                    for (size_t w = 0; w < words; w++)
                        mask[w] |= e->bits[w];
                } else if (e->list_is_rejected) {
                    memcpy(row, v->trie_bits, words * sizeof *row);
                    for (uint32_t k = 0; k < e->n_list + e->n_unc; k++) /* the complement holds neither */
                        row[e->ids[k] >> 5] &= ~(1u << (e->ids[k] & 31));
                    for (size_t w = 0; w < words; w++)
                        mask[w] |= row[w];
                } else {
                    for (uint32_t k = 0; k < e->n_list; k++)
                        mask[e->ids[k] >> 5] |= 1u << (e->ids[k] & 31);
                }
            }
            if (e->n_unc == 0 || n >= have) break;
            n++; /* one more frame decides some of the uncertain tokens */
        }
        /* what is still uncertain, against this parse with all its callers */
        for (uint32_t k = e->n_list; k < e->n_list + e->n_unc; k++) {
            int32_t id = e->ids[k];
            if (mask[id >> 5] >> (id & 31) & 1u) continue;
            if (gm__viable(m, &t, 1, v->bytes + v->off[id], v->off[id + 1] - v->off[id]))
                mask[id >> 5] |= 1u << (id & 31);
        }
    }
    if (gram_matcher_accepting(m)) gm__set_eog(v, mask);
    return 0;
nomem:
    memset(mask, 0, words * sizeof *mask);
    return ERR_NOMEM;
}
