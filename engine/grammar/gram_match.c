/*
 * gram_match.c — parse stacks and the per-sequence matcher (see grammar.h and gram_internal.h).
 *
 * A step consumes one byte: every top whose byte class holds the byte moves to the next position, and the
 * closure follows rule entries (a reference pushes a return frame, except in tail position, where the frame is
 * replaced: right recursion such as S -> x S runs in constant depth) and frame ends (pop to the return
 * position). Within a step, nodes are hash-consed and closure items visited once, so ambiguous grammars with
 * nullable parts cost linear, not exponential, time; the grammar has no left recursion (gram_build.c refuses
 * it), so the closure ends.
 *
 * Nodes are appended to one arena per matcher and never freed one by one: a rejected token rolls the arena back
 * to where it was, and when garbage from accepted tokens piles up the live nodes are compacted in place (a node's
 * parent always has a smaller index, so one increasing pass renumbers them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

/* ---- arena -------------------------------------------------------------------------------------------- */

void gm_arena_free(gm_arena_t *a) {
    free(a->nodes);
    free(a->work);
    free(a->map);
    memset(a, 0, sizeof *a);
}

void gm_step_begin(gm_arena_t *a) {
    a->stamp++;
    a->map_used = 0;
    if (a->stamp == 0) { /* wrapped: old stamps could match again */
        if (a->map) memset(a->map, 0, (size_t)a->map_cap * sizeof *a->map);
        a->stamp = 1;
    }
}

static inline uint64_t gm__mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static bool gm__map_grow(gm_arena_t *a) {
    uint32_t cap = a->map_cap ? a->map_cap * 2 : 1024;
    gm_slot_t *m = calloc(cap, sizeof *m);
    if (!m) return false;
    for (uint32_t i = 0; i < a->map_cap; i++) {
        if (a->map[i].stamp != a->stamp) continue;
        uint32_t j = (uint32_t)gm__mix(a->map[i].key) & (cap - 1);
        while (m[j].stamp == a->stamp)
            j = (j + 1) & (cap - 1);
        m[j] = a->map[i];
    }
    free(a->map);
    a->map = m;
    a->map_cap = cap;
    return true;
}

/* Finds key in this step's map; when absent, inserts it with value val. Returns the slot, NULL when out of
   memory. *found tells which. */
static gm_slot_t *gm__map_put(gm_arena_t *a, uint64_t key, uint32_t val, bool *found) {
    if ((a->map_used + 1) * 2 > a->map_cap && !gm__map_grow(a)) return NULL;
    uint32_t j = (uint32_t)gm__mix(key) & (a->map_cap - 1);
    while (a->map[j].stamp == a->stamp) {
        if (a->map[j].key == key) {
            *found = true;
            return &a->map[j];
        }
        j = (j + 1) & (a->map_cap - 1);
    }
    a->map[j].key = key;
    a->map[j].val = val;
    a->map[j].stamp = a->stamp;
    a->map_used++;
    *found = false;
    return &a->map[j];
}

#define GM_KEY_NODE  (1ull << 62) /* a return frame */
#define GM_KEY_VISIT (2ull << 62) /* a closure item expanded */
#define GM_KEY_TOP   (3ull << 62) /* a top: a parse waiting at a byte class */

/* The node {pos, parent} of the given kind, shared with an equal one made in this step (*found tells). GM_NONE
   when too deep (overflow) or out of memory (nomem). */
static uint32_t gm__cons(gm_arena_t *a, uint64_t kind, uint32_t pos, uint32_t parent, bool *found) {
    uint32_t depth = parent == GM_NONE ? 1 : a->nodes[parent].depth + 1;
    if (depth > GRAM_MAX_DEPTH) {
        a->overflow = true;
        return GM_NONE;
    }
    gm_slot_t *s = gm__map_put(a, kind | ((uint64_t)pos << 32) | parent, a->n, found);
    if (!s) {
        a->nomem = true;
        return GM_NONE;
    }
    if (*found) return s->val;
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 1024;
        gm_node_t *nn = realloc(a->nodes, (size_t)cap * sizeof *nn);
        if (nn) a->nodes = nn;
        if (!nn || a->n >= GM_END - 1) {
            a->nomem = true;
            s->stamp = 0; /* forget the slot that points past the end */
            return GM_NONE;
        }
        a->nodes = nn;
        a->cap = cap;
    }
    a->nodes[a->n] = (gm_node_t){pos, parent, depth};
    return a->n++;
}

static bool gm__work_push(gm_arena_t *a, uint32_t pos, uint32_t parent) {
    if (a->n_work + 2 > a->cap_work) {
        uint32_t cap = a->cap_work ? a->cap_work * 2 : 256;
        uint32_t *w = realloc(a->work, (size_t)cap * sizeof *w);
        if (!w) {
            a->nomem = true;
            return false;
        }
        a->work = w;
        a->cap_work = cap;
    }
    a->work[a->n_work++] = pos;
    a->work[a->n_work++] = parent;
    return true;
}

int gm_close(const gram_t *g, gm_arena_t *a, uint32_t pos, uint32_t parent, uint32_t *out, uint32_t *n_out) {
    a->n_work = 0;
    if (!gm__work_push(a, pos, parent)) return ERR_NOMEM;
    while (a->n_work) {
        uint32_t par = a->work[--a->n_work];
        uint32_t p = a->work[--a->n_work];
        uint32_t e = g->elems[p];
        bool found;
        if (GE_TYPE(e) == GE_SET) { /* a top: hash-consing alone deduplicates it */
            uint32_t t = gm__cons(a, GM_KEY_TOP, p, par, &found);
            if (t == GM_NONE) {
                if (a->nomem) return ERR_NOMEM;
                continue;
            }
            if (found) continue;
            if (*n_out >= GRAM_MAX_STACKS) {
                a->overflow = true;
                continue;
            }
            out[(*n_out)++] = t;
            continue;
        }
        if (!gm__map_put(a, GM_KEY_VISIT | ((uint64_t)p << 32) | par, 0, &found)) return a->nomem = true, ERR_NOMEM;
        if (found) continue;
        if (GE_TYPE(e) == GE_END) {
            if (par == GM_NONE) {
                if (!gm__map_put(a, GM_KEY_VISIT | ((uint64_t)GM_END << 32), 0, &found)) return ERR_NOMEM;
                if (found) continue; /* several alternatives can end the document: one GM_END */
                if (*n_out >= GRAM_MAX_STACKS) {
                    a->overflow = true;
                    continue;
                }
                out[(*n_out)++] = GM_END;
            } else {
                gm_node_t pn = a->nodes[par];
                if (!gm__work_push(a, pn.pos, pn.parent)) return ERR_NOMEM;
            }
            continue;
        }
        /* GE_REF */
        uint32_t r = GE_ARG(e), np = par;
        if (GE_TYPE(g->elems[p + 1]) != GE_END) {
            np = gm__cons(a, GM_KEY_NODE, p + 1, par, &found);
            if (np == GM_NONE) {
                if (a->nomem) return ERR_NOMEM;
                continue;
            }
        }
        for (uint32_t i = g->rule_alt[r + 1]; i-- > g->rule_alt[r];)
            if (!gm__work_push(a, g->alts[i], np)) return ERR_NOMEM;
    }
    return 0;
}

int gm_advance(const gram_t *g, gm_arena_t *a, const uint32_t *in, uint32_t n_in, uint8_t c, uint32_t *out,
               uint32_t *n_out) {
    gm_step_begin(a);
    *n_out = 0;
    for (uint32_t i = 0; i < n_in; i++) {
        if (in[i] == GM_END) continue;
        gm_node_t nd = a->nodes[in[i]];
        if (!gram_set_has(&g->sets[GE_ARG(g->elems[nd.pos])], c)) continue;
        if (GE_TYPE(g->elems[nd.pos + 1]) == GE_SET) { /* the next byte class: nothing to close over */
            bool found;
            uint32_t t = gm__cons(a, GM_KEY_TOP, nd.pos + 1, nd.parent, &found);
            if (t == GM_NONE) {
                if (a->nomem) return ERR_NOMEM;
                continue;
            }
            if (found) continue;
            if (*n_out >= GRAM_MAX_STACKS) {
                a->overflow = true;
                continue;
            }
            out[(*n_out)++] = t;
            continue;
        }
        int rc = gm_close(g, a, nd.pos + 1, nd.parent, out, n_out);
        if (rc) return rc;
    }
    return 0;
}

bool gm_has_live(const uint32_t *set, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (set[i] != GM_END) return true;
    return false;
}

/* ---- the matcher -------------------------------------------------------------------------------------- */

#define GRAM_MAX_TRIGGERS    64
#define GRAM_MAX_TRIGGER_LEN 256

struct gram_matcher {
    gram_t *g; /* the cache inside is mutable (under its mutex); the rules are not */
    const gram_vocab_t *v;
    gm_arena_t a;
    uint32_t *tops; /* (GRAM_MAX_STACKS) the current parses */
    uint32_t n_tops;
    uint32_t *tmp[2]; /* (GRAM_MAX_STACKS each) sets while stepping */
    uint32_t *remap;  /* compaction scratch */
    size_t cap_remap;
    uint32_t compact_at; /* arena size that triggers the next compaction */
    bool done;
    bool capped; /* a parse was dropped at GRAM_MAX_DEPTH / GRAM_MAX_STACKS since the last reset */
    /* lazy */
    bool lazy, waiting;
    char *trig_buf; /* the trigger texts, back to back, then the quiet region's open and close texts */
    uint32_t trig_off[GRAM_MAX_TRIGGERS + 3];
    uint32_t n_trig;
    bool has_quiet, quiet, quiet_at_start; /* quiet: inside a quiet region (triggers do not count) */
    int32_t quiet_tok[2];                  /* open and close as single tokens, or -1 */
    int32_t *trig_tok;
    uint32_t n_trig_tok;
    uint8_t tail[GRAM_MAX_TRIGGER_LEN]; /* the last bytes generated while waiting (< longest trigger) */
    uint32_t n_tail, max_trig;
    gram_set_t trig_last; /* last bytes of the trigger texts: a token without one cannot complete a trigger */
    /* mask scratch (gram_mask.c) */
    uint32_t *row; /* (mask words) */
    uint32_t *lvl; /* DFS level sets */
    size_t cap_lvl;
};

static void gm__start(gram_matcher_t *m) {
    m->a.n = 0;
    m->a.overflow = m->a.nomem = false;
    m->n_tops = 0;
    m->done = false;
    m->capped = false;
    m->compact_at = 8192;
    gm_step_begin(&m->a);
    if (gm_close(m->g, &m->a, 0, GM_NONE, m->tops, &m->n_tops)) m->n_tops = 0;
}

int gram_matcher_create(const gram_t *g, const gram_vocab_t *v, const gram_lazy_t *lazy, gram_matcher_t **out,
                        char *err, size_t err_len) {
    if (!out) return err_set(err, err_len, ERR_INVAL, "gram_matcher_create: out is NULL");
    *out = NULL;
    if (!g) return err_set(err, err_len, ERR_INVAL, "gram_matcher_create: NULL grammar");
    if (!v && lazy) return err_set(err, err_len, ERR_INVAL, "gram_matcher_create: a lazy matcher needs a vocabulary");
    gram_t *gm = (gram_t *)g;
    pthread_mutex_lock(&gm->mu);
    bool other = v && gm->vocab && gm->vocab != v;
    if (!gm->vocab) gm->vocab = v;
    pthread_mutex_unlock(&gm->mu);
    if (other) return err_set(err, err_len, ERR_INVAL, "grammar already bound to another vocabulary");

    int rc = ERR_NOMEM;
    gram_matcher_t *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, err_len, ERR_NOMEM, "grammar matcher: out of memory");
    m->g = gm;
    m->v = v;
    m->tops = malloc(GRAM_MAX_STACKS * sizeof *m->tops);
    m->tmp[0] = malloc(GRAM_MAX_STACKS * sizeof *m->tmp[0]);
    m->tmp[1] = malloc(GRAM_MAX_STACKS * sizeof *m->tmp[1]);
    m->row = malloc((v ? gram_mask_words(v->n_vocab) : 0) * sizeof *m->row + 4);
    if (!m->tops || !m->tmp[0] || !m->tmp[1] || !m->row) goto nomem;

    if (lazy) {
        if (lazy->n_texts > GRAM_MAX_TRIGGERS || lazy->n_tokens > GRAM_MAX_TRIGGERS) {
            rc = err_set(err, err_len, ERR_LIMIT, "more than %d lazy-grammar triggers", GRAM_MAX_TRIGGERS);
            goto cleanup;
        }
        if (lazy->n_texts + lazy->n_tokens == 0 || (lazy->n_texts && !lazy->texts) ||
            (lazy->n_tokens && !lazy->tokens)) {
            rc = err_set(err, err_len, ERR_INVAL, "lazy grammar without triggers");
            goto cleanup;
        }
        if (!lazy->quiet_open != !lazy->quiet_close || (lazy->n_quiet_tokens != 0 && lazy->n_quiet_tokens != 2) ||
            (lazy->n_quiet_tokens && !lazy->quiet_open)) {
            rc = err_set(err, err_len, ERR_INVAL, "a quiet region needs both its texts (and 0 or 2 tokens)");
            goto cleanup;
        }
        m->has_quiet = lazy->quiet_open != NULL;
        const size_t n_all = lazy->n_texts + (m->has_quiet ? 2 : 0);
        const char *all[GRAM_MAX_TRIGGERS + 2];
        for (size_t i = 0; i < lazy->n_texts; i++)
            all[i] = lazy->texts[i];
        if (m->has_quiet) all[lazy->n_texts] = lazy->quiet_open, all[lazy->n_texts + 1] = lazy->quiet_close;
        size_t total = 0;
        for (size_t i = 0; i < n_all; i++) {
            size_t n = all[i] ? strlen(all[i]) : 0;
            if (n == 0 || n > GRAM_MAX_TRIGGER_LEN) {
                rc = err_set(err, err_len, ERR_LIMIT, "lazy-grammar trigger and quiet texts must be 1..%d bytes",
                             GRAM_MAX_TRIGGER_LEN);
                goto cleanup;
            }
            total += n;
        }
        m->trig_buf = malloc(total + 1);
        m->trig_tok = malloc((lazy->n_tokens + 1) * sizeof *m->trig_tok);
        if (!m->trig_buf || !m->trig_tok) goto nomem;
        size_t o = 0;
        for (size_t i = 0; i < n_all; i++) {
            size_t n = strlen(all[i]);
            m->trig_off[i] = (uint32_t)o;
            memcpy(m->trig_buf + o, all[i], n);
            o += n;
            if (n > m->max_trig) m->max_trig = (uint32_t)n;
            gram_set_add(&m->trig_last, (uint8_t)all[i][n - 1]);
        }
        m->trig_off[n_all] = (uint32_t)o;
        m->n_trig = (uint32_t)lazy->n_texts;
        m->quiet_tok[0] = m->quiet_tok[1] = -1;
        for (size_t i = 0; i < lazy->n_quiet_tokens; i++) {
            if (lazy->quiet_tokens[i] < 0 || lazy->quiet_tokens[i] >= v->n_vocab) {
                rc = err_set(err, err_len, ERR_RANGE, "quiet-region token %d out of range", (int)lazy->quiet_tokens[i]);
                goto cleanup;
            }
            m->quiet_tok[i] = lazy->quiet_tokens[i];
        }
        m->quiet_at_start = m->has_quiet && lazy->quiet_at_start;
        for (size_t i = 0; i < lazy->n_tokens; i++) {
            if (lazy->tokens[i] < 0 || lazy->tokens[i] >= v->n_vocab) {
                rc = err_set(err, err_len, ERR_RANGE, "lazy-grammar trigger token %d out of range",
                             (int)lazy->tokens[i]);
                goto cleanup;
            }
            m->trig_tok[i] = lazy->tokens[i];
        }
        m->n_trig_tok = (uint32_t)lazy->n_tokens;
        m->lazy = true;
    }
    gram_matcher_reset(m);
    if (m->a.nomem) goto nomem;
    *out = m;
    return 0;
nomem:
    rc = err_set(err, err_len, ERR_NOMEM, "grammar matcher: out of memory");
cleanup:
    gram_matcher_free(m);
    return rc;
}

void gram_matcher_free(gram_matcher_t *m) {
    if (!m) return;
    gm_arena_free(&m->a);
    free(m->tops);
    free(m->tmp[0]);
    free(m->tmp[1]);
    free(m->remap);
    free(m->trig_buf);
    free(m->trig_tok);
    free(m->row);
    free(m->lvl);
    free(m);
}

void gram_matcher_reset(gram_matcher_t *m) {
    if (!m) return;
    gm__start(m);
    m->waiting = m->lazy;
    m->quiet = m->quiet_at_start;
    m->n_tail = 0;
}

int gram_matcher_copy(gram_matcher_t *dst, const gram_matcher_t *src) {
    if (!dst || !src || dst->g != src->g || dst->v != src->v) return ERR_INVAL;
    if (dst == src) return 0;
    if (dst->a.cap < src->a.n) {
        gm_node_t *nn = realloc(dst->a.nodes, (size_t)src->a.cap * sizeof *nn);
        if (!nn) return ERR_NOMEM;
        dst->a.nodes = nn;
        dst->a.cap = src->a.cap;
    }
    if (src->a.n) memcpy(dst->a.nodes, src->a.nodes, (size_t)src->a.n * sizeof *dst->a.nodes);
    dst->a.n = src->a.n;
    dst->a.overflow = src->a.overflow;
    memcpy(dst->tops, src->tops, (size_t)src->n_tops * sizeof *dst->tops);
    dst->n_tops = src->n_tops;
    dst->done = src->done;
    dst->waiting = src->waiting;
    dst->quiet = src->quiet;
    memcpy(dst->tail, src->tail, src->n_tail);
    dst->n_tail = src->n_tail;
    return 0;
}

bool gram_matcher_waiting(const gram_matcher_t *m) { return m && m->waiting; }

bool gram_matcher_broad(const gram_matcher_t *m) {
    if (!m || m->done) return false;
    if (m->waiting) return true;
    gram_set_t next = {{0}}; /* the bytes any parse takes next (a string's characters are several classes) */
    for (uint32_t i = 0; i < m->n_tops; i++) {
        uint32_t t = m->tops[i];
        if (t == GM_END) continue;
        uint32_t e = m->g->elems[m->a.nodes[t].pos];
        if (GE_TYPE(e) != GE_SET) continue;
        for (int w = 0; w < 8; w++)
            next.w[w] |= m->g->sets[GE_ARG(e)].w[w];
    }
    int bytes = 0;
    for (int w = 0; w < 8; w++)
        bytes += __builtin_popcount(next.w[w]);
    return bytes >= 128;
}

bool gram_matcher_accepting(const gram_matcher_t *m) {
    if (!m) return false;
    if (m->waiting || m->done) return true;
    for (uint32_t i = 0; i < m->n_tops; i++)
        if (m->tops[i] == GM_END) return true;
    return false;
}

bool gram_matcher_done(const gram_matcher_t *m) {
    if (!m) return true;
    if (m->done) return true;
    if (m->waiting) return false;
    return m->n_tops > 0 && !gm_has_live(m->tops, m->n_tops);
}

/* Runs bytes from the set in[0..n_in) (kept intact); the result lands in one of m->tmp, returned with its size.
   Returns 0, ERR_STATE (no parse survives) or ERR_LIMIT (none survives and a parse was dropped at a cap). */
static int gm__run(gram_matcher_t *m, const uint32_t *in, uint32_t n_in, const uint8_t *bytes, size_t n,
                   const uint32_t **res, uint32_t *n_res) {
    const uint32_t *cur = in;
    uint32_t n_cur = n_in;
    m->a.overflow = false;
    for (size_t i = 0; i < n; i++) {
        uint32_t *nxt = m->tmp[i & 1];
        uint32_t n_nxt = 0;
        int rc = gm_advance(m->g, &m->a, cur, n_cur, bytes[i], nxt, &n_nxt);
        if (rc) return rc;
        if (n_nxt == 0) return m->a.overflow ? ERR_LIMIT : ERR_STATE;
        cur = nxt;
        n_cur = n_nxt;
    }
    *res = cur;
    *n_res = n_cur;
    return 0;
}

bool gm__viable(gram_matcher_t *m, const uint32_t *in, uint32_t n_in, const uint8_t *bytes, size_t n) {
    uint32_t mark = m->a.n;
    const uint32_t *res;
    uint32_t n_res;
    int rc = gm__run(m, in, n_in, bytes, n, &res, &n_res);
    m->a.n = mark;
    return rc == 0;
}

/* Compacts the arena to the nodes reachable from the current tops. */
static void gm__compact(gram_matcher_t *m) {
    gm_arena_t *a = &m->a;
    if (m->cap_remap < a->n) {
        uint32_t *r = realloc(m->remap, (size_t)a->n * sizeof *r);
        if (!r) return; /* keep the garbage; correctness does not depend on compaction */
        m->remap = r;
        m->cap_remap = a->n;
    }
    memset(m->remap, 0, (size_t)a->n * sizeof *m->remap);
    for (uint32_t i = 0; i < m->n_tops; i++)
        for (uint32_t t = m->tops[i]; t != GM_END && t != GM_NONE && !m->remap[t]; t = a->nodes[t].parent)
            m->remap[t] = 1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        if (!m->remap[i]) continue;
        gm_node_t nd = a->nodes[i];
        if (nd.parent != GM_NONE) nd.parent = m->remap[nd.parent] - 1;
        a->nodes[k] = nd;
        m->remap[i] = ++k; /* new index + 1 */
    }
    for (uint32_t i = 0; i < m->n_tops; i++)
        if (m->tops[i] != GM_END) m->tops[i] = m->remap[m->tops[i]] - 1;
    a->n = k;
}

/* Advances the active grammar by bytes, committing on success. */
static int gm__feed(gram_matcher_t *m, const uint8_t *bytes, size_t n) {
    uint32_t mark = m->a.n;
    const uint32_t *res;
    uint32_t n_res;
    int rc = gm__run(m, m->tops, m->n_tops, bytes, n, &res, &n_res);
    if (rc) {
        m->a.n = mark;
        return rc == ERR_STATE && m->capped ? ERR_LIMIT : rc;
    }
    m->capped = m->capped || m->a.overflow;
    if (n) {
        memcpy(m->tops, res, (size_t)n_res * sizeof *m->tops);
        m->n_tops = n_res;
    }
    if (m->a.n >= m->compact_at) {
        gm__compact(m);
        m->compact_at = m->a.n * 4 > 8192 ? m->a.n * 4 : 8192;
    }
    return 0;
}

static bool gm__is_eog(const gram_vocab_t *v, int32_t id) {
    for (uint32_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

bool gm__is_trigger_token(const gram_matcher_t *m, int32_t id) {
    for (uint32_t i = 0; i < m->n_trig_tok; i++)
        if (m->trig_tok[i] == id) return true;
    return false;
}

/*
 * The first end position in bytes[from..n) of one of the texts [t0, t1) of trig_buf, each text's bytes taken from
 * bytes[from..end) and, when use_tail, the tail before them. Returns that end (> from) with the text's index in
 * *which, or 0 when none completes.
 */
static size_t gm__first_end(const gram_matcher_t *m, uint32_t t0, uint32_t t1, bool use_tail, const uint8_t *bytes,
                            size_t from, size_t n, uint32_t *which) {
    const size_t n_tail = use_tail ? m->n_tail : 0;
    for (size_t end = from + 1; end <= n; end++) { /* the first end position wins */
        if (!gram_set_has(&m->trig_last, bytes[end - 1])) continue;
        for (uint32_t t = t0; t < t1; t++) {
            const char *tr = m->trig_buf + m->trig_off[t];
            size_t tl = m->trig_off[t + 1] - m->trig_off[t], have = end - from;
            if (tl > n_tail + have) continue;
            /* compare backwards: the last min(have, tl) bytes come from `bytes`, the rest from the tail */
            bool ok = true;
            for (size_t j = 0; j < tl && ok; j++) {
                size_t back = tl - 1 - j; /* distance from the end */
                uint8_t c = back < have ? bytes[end - 1 - back] : m->tail[n_tail - (back - have) - 1];
                ok = c == (uint8_t)tr[j];
            }
            if (ok) {
                *which = t;
                return end;
            }
        }
    }
    return 0;
}

/*
 * While waiting: where does the grammar start in bytes, following the tail and the quiet regions? Returns the
 * number of bytes of `bytes` up to and including the trigger's end, or 0 when no trigger completes. Then *quiet is
 * the region state after the bytes and *seg where the tail restarts: SIZE_MAX when the bytes just extend it, else
 * the end of the last region tag (the bytes from there are the new tail).
 */
size_t gm__wait_scan(const gram_matcher_t *m, const uint8_t *bytes, size_t n, bool *quiet, size_t *seg) {
    *quiet = m->quiet;
    *seg = SIZE_MAX;
    if (n == 0 || (m->n_trig == 0 && !m->has_quiet)) return 0;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = gram_set_has(&m->trig_last, bytes[i]);
    if (!any) return 0;
    size_t from = 0;
    bool use_tail = true;
    for (;;) {
        uint32_t which = 0;
        /* outside a region: the triggers and the region's opener; inside: its closer only */
        uint32_t t0 = *quiet ? m->n_trig + 1 : 0, t1 = *quiet ? m->n_trig + 2 : m->n_trig + (m->has_quiet ? 1 : 0);
        size_t end = gm__first_end(m, t0, t1, use_tail, bytes, from, n, &which);
        if (end == 0) return 0;
        if (which < m->n_trig) return end;
        *quiet = !*quiet;
        *seg = from = end;
        use_tail = false; /* nothing before a region tag completes a text after it */
    }
}

size_t gm__trigger_end(const gram_matcher_t *m, const uint8_t *bytes, size_t n) {
    bool quiet;
    size_t seg;
    return gm__wait_scan(m, bytes, n, &quiet, &seg);
}

/* A quiet region's tag as one token: 0 = the opener, 1 = the closer, -1 = neither. */
static int gm__quiet_token(const gram_matcher_t *m, int32_t id) {
    if (!m->has_quiet) return -1;
    return id == m->quiet_tok[0] ? 0 : id == m->quiet_tok[1] ? 1 : -1;
}

static void gm__push_tail(gram_matcher_t *m, const uint8_t *bytes, size_t n) {
    uint32_t keep = m->max_trig ? m->max_trig - 1 : 0;
    if (keep == 0) return;
    if (n >= keep) {
        memcpy(m->tail, bytes + n - keep, keep);
        m->n_tail = keep;
        return;
    }
    uint32_t old = m->n_tail + (uint32_t)n > keep ? keep - (uint32_t)n : m->n_tail;
    memmove(m->tail, m->tail + m->n_tail - old, old);
    memcpy(m->tail + old, bytes, n);
    m->n_tail = old + (uint32_t)n;
}

bool gram_matcher_allows(gram_matcher_t *m, int32_t id) {
    if (!m || !m->v || id < 0 || id >= m->v->n_vocab || m->done) return false;
    const gram_vocab_t *v = m->v;
    const uint8_t *b = v->bytes + v->off[id];
    size_t n = v->off[id + 1] - v->off[id];
    if (m->waiting) {
        if (gm__is_trigger_token(m, id) || gm__quiet_token(m, id) >= 0) return true;
        size_t end = gm__trigger_end(m, b, n);
        if (end == 0) return true;
        /* The start set goes in tmp[1]: gm__run reads its input in the first step only and writes tmp[0]. */
        uint32_t mark = m->a.n, n0 = 0;
        gm_step_begin(&m->a);
        bool ok =
            gm_close(m->g, &m->a, 0, GM_NONE, m->tmp[1], &n0) == 0 && gm__viable(m, m->tmp[1], n0, b + end, n - end);
        m->a.n = mark;
        return ok;
    }
    if (gm__is_eog(v, id)) return gram_matcher_accepting(m);
    if (n == 0) return false;
    return gm__viable(m, m->tops, m->n_tops, b, n);
}

int gram_matcher_accept_bytes(gram_matcher_t *m, const void *bytes, size_t n) {
    if (!m || (n && !bytes)) return ERR_INVAL;
    if (m->done) return ERR_STATE;
    const uint8_t *b = bytes;
    if (m->waiting) {
        bool quiet;
        size_t seg;
        size_t end = gm__wait_scan(m, b, n, &quiet, &seg);
        if (end == 0) {
            m->quiet = quiet;
            if (seg != SIZE_MAX) { /* after a region tag the tail restarts */
                m->n_tail = 0;
                gm__push_tail(m, b + seg, n - seg);
            } else {
                gm__push_tail(m, b, n);
            }
            return 0;
        }
        gm__start(m);
        int rc = gm__feed(m, b + end, n - end);
        if (rc) return rc; /* still waiting: the grammar did not take what followed the trigger */
        m->waiting = false;
        return 0;
    }
    return gm__feed(m, b, n);
}

int gram_matcher_accept(gram_matcher_t *m, int32_t id) {
    if (!m || !m->v) return ERR_INVAL;
    if (id < 0 || id >= m->v->n_vocab) return ERR_RANGE;
    if (m->done) return ERR_STATE;
    const gram_vocab_t *v = m->v;
    if (gm__is_eog(v, id)) {
        if (!gram_matcher_accepting(m)) return ERR_STATE;
        m->done = true;
        return 0;
    }
    if (m->waiting && gm__quiet_token(m, id) >= 0) { /* a region tag as one token */
        if (gm__quiet_token(m, id) == (m->quiet ? 1 : 0)) m->quiet = !m->quiet, m->n_tail = 0;
        return 0;
    }
    if (m->waiting && !m->quiet && gm__is_trigger_token(m, id)) {
        gm__start(m);
        m->waiting = false;
        return 0;
    }
    size_t n = v->off[id + 1] - v->off[id];
    if (!m->waiting && n == 0) return ERR_STATE; /* control tokens never enter a grammar */
    return gram_matcher_accept_bytes(m, v->bytes + v->off[id], n);
}

/* ---- for gram_mask.c -------------------------------------------------------------------------------- */

gram_t *gm__grammar(gram_matcher_t *m) { return m->g; }
const gram_vocab_t *gm__vocab(gram_matcher_t *m) { return m->v; }
gm_arena_t *gm__arena(gram_matcher_t *m) { return &m->a; }
const uint32_t *gm__tops(gram_matcher_t *m, uint32_t *n) {
    *n = m->n_tops;
    return m->tops;
}
uint32_t *gm__row(gram_matcher_t *m) { return m->row; }
bool gm__done(gram_matcher_t *m) { return m->done; }

uint32_t *gm__lvl(gram_matcher_t *m, size_t need) {
    if (m->cap_lvl < need) {
        size_t cap = m->cap_lvl ? m->cap_lvl : 4096;
        while (cap < need)
            cap *= 2;
        uint32_t *l = realloc(m->lvl, cap * sizeof *l);
        if (!l) return NULL;
        m->lvl = l;
        m->cap_lvl = cap;
    }
    return m->lvl;
}

/* The grammar's start set in dst (GRAM_MAX_STACKS entries), made in m's arena. */
int gm__start_set(gram_matcher_t *m, uint32_t *dst, uint32_t *n) {
    *n = 0;
    gm_step_begin(&m->a);
    return gm_close(m->g, &m->a, 0, GM_NONE, dst, n);
}
