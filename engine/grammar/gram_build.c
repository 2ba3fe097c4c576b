/*
 * gram_build.c — grammar expressions and their lowering into a compiled grammar (see gram_build.h).
 *
 * Lowering: each rule's body becomes its alternatives (a top-level alternative is flattened), sequences are
 * inlined, byte strings become one single-byte class per byte, a nested alternative becomes an anonymous rule,
 * and x{min,max} becomes min copies of x followed by a tail rule: S -> x S | "" when unbounded, otherwise a chain
 * R_1 -> x | "", R_j -> x R_(j-1) | "" of max - min rules. A node used in several places is lowered once (its
 * rules are shared), so a whitespace rule used everywhere costs one set of positions.
 *
 * Checks, in linear time over the elements: which rules can match "" (nullable) and which can finish at all
 * (productive) by counting, per alternative, the references not yet known nullable / productive; then
 * alternatives that cannot finish are dropped and left recursion (a rule reaching itself through references
 * preceded only by nullable elements) is an error: the matcher's closure would never end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

enum { GB_EMPTY, GB_BYTES, GB_SET, GB_SEQ, GB_ALT, GB_REPEAT, GB_REF };

typedef struct {
    uint8_t kind;
    uint32_t a; /* BYTES: offset in bytes; SET: set index; SEQ/ALT: offset in kids; REPEAT: kid; REF: rule */
    uint32_t n; /* BYTES: length; SEQ/ALT: kid count */
    uint32_t min, max;
} gb_node_t;

struct gram_builder {
    gb_node_t *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *kids;
    size_t n_kids, cap_kids;
    uint8_t *bytes;
    size_t n_bytes, cap_bytes;
    gram_set_t *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *rule_body; /* (n_rules) node, GRAM_NONE while undefined */
    uint32_t n_rules, cap_rules;
    int rc;
    char msg[256];
};

/* Grows *p (elements of size sz, capacity *cap) to hold need elements. Returns false when out of memory. */
static bool gb__grow(void **p, size_t sz, size_t need, size_t *cap) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

uint32_t gram_build_fail(gram_builder_t *b, int code, const char *fmt, ...) {
    if (b->rc == 0) {
        b->rc = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->msg, sizeof b->msg, fmt, ap);
        va_end(ap);
    }
    return GRAM_NONE;
}

int gram_build_error(const gram_builder_t *b) { return b ? b->rc : ERR_INVAL; }
const char *gram_build_error_msg(const gram_builder_t *b) { return b ? b->msg : "no builder"; }

gram_builder_t *gram_build_new(void) {
    gram_builder_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (gram_rule_new(b) != GRAM_ROOT) {
        gram_build_free(b);
        return NULL;
    }
    return b;
}

void gram_build_free(gram_builder_t *b) {
    if (!b) return;
    free(b->nodes);
    free(b->kids);
    free(b->bytes);
    free(b->sets);
    free(b->rule_body);
    free(b);
}

static uint32_t gb__node(gram_builder_t *b, uint8_t kind, uint32_t a, uint32_t n) {
    if (b->rc) return GRAM_NONE;
    if (b->n_nodes >= GRAM_MAX_NODES)
        return gram_build_fail(b, ERR_LIMIT, "grammar too large: more than %u expression nodes", GRAM_MAX_NODES);
    size_t cap = b->cap_nodes;
    if (!gb__grow((void **)&b->nodes, sizeof *b->nodes, (size_t)b->n_nodes + 1, &cap))
        return gram_build_fail(b, ERR_NOMEM, "grammar: out of memory");
    b->cap_nodes = (uint32_t)cap;
    gb_node_t *nd = &b->nodes[b->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->a = a;
    nd->n = n;
    return b->n_nodes++;
}

uint32_t gram_empty(gram_builder_t *b) { return gb__node(b, GB_EMPTY, 0, 0); }

uint32_t gram_bytes(gram_builder_t *b, const void *bytes, size_t n) {
    if (b->rc) return GRAM_NONE;
    if (n == 0) return gram_empty(b);
    if (n > GRAM_MAX_ELEMS) return gram_build_fail(b, ERR_LIMIT, "grammar literal too long (%zu bytes)", n);
    if (!gb__grow((void **)&b->bytes, 1, b->n_bytes + n, &b->cap_bytes))
        return gram_build_fail(b, ERR_NOMEM, "grammar: out of memory");
    memcpy(b->bytes + b->n_bytes, bytes, n);
    uint32_t id = gb__node(b, GB_BYTES, (uint32_t)b->n_bytes, (uint32_t)n);
    if (id != GRAM_NONE) b->n_bytes += n;
    return id;
}

uint32_t gram_str(gram_builder_t *b, const char *s) { return gram_bytes(b, s, strlen(s)); }

uint32_t gram_set(gram_builder_t *b, const gram_set_t *set) {
    if (b->rc) return GRAM_NONE;
    size_t cap = b->cap_sets;
    if (!gb__grow((void **)&b->sets, sizeof *b->sets, (size_t)b->n_sets + 1, &cap))
        return gram_build_fail(b, ERR_NOMEM, "grammar: out of memory");
    b->cap_sets = (uint32_t)cap;
    uint32_t id = gb__node(b, GB_SET, b->n_sets, 0);
    if (id != GRAM_NONE) b->sets[b->n_sets++] = *set;
    return id;
}

static uint32_t gb__list(gram_builder_t *b, uint8_t kind, const uint32_t *kids, size_t n) {
    if (b->rc) return GRAM_NONE;
    for (size_t i = 0; i < n; i++)
        if (kids[i] >= b->n_nodes) return gram_build_fail(b, ERR_INVAL, "grammar: bad node id");
    if (n == 1) return kids[0];
    if (n == 0 && kind == GB_SEQ) return gram_empty(b);
    if (n > GRAM_MAX_NODES) return gram_build_fail(b, ERR_LIMIT, "grammar: too many alternatives");
    if (!gb__grow((void **)&b->kids, sizeof *b->kids, b->n_kids + n, &b->cap_kids))
        return gram_build_fail(b, ERR_NOMEM, "grammar: out of memory");
    if (n) memcpy(b->kids + b->n_kids, kids, n * sizeof *kids);
    uint32_t id = gb__node(b, kind, (uint32_t)b->n_kids, (uint32_t)n);
    if (id != GRAM_NONE) b->n_kids += n;
    return id;
}

uint32_t gram_seq(gram_builder_t *b, const uint32_t *kids, size_t n) { return gb__list(b, GB_SEQ, kids, n); }
uint32_t gram_alt(gram_builder_t *b, const uint32_t *kids, size_t n) { return gb__list(b, GB_ALT, kids, n); }

static uint32_t gb__listv(gram_builder_t *b, uint8_t kind, size_t n, va_list ap) {
    uint32_t kids[64];
    if (n > 64) return gram_build_fail(b, ERR_INVAL, "grammar: more than 64 arguments");
    for (size_t i = 0; i < n; i++)
        kids[i] = va_arg(ap, uint32_t);
    return gb__list(b, kind, kids, n);
}

uint32_t gram_seqv(gram_builder_t *b, size_t n, ...) {
    va_list ap;
    va_start(ap, n);
    uint32_t r = gb__listv(b, GB_SEQ, n, ap);
    va_end(ap);
    return r;
}

uint32_t gram_altv(gram_builder_t *b, size_t n, ...) {
    va_list ap;
    va_start(ap, n);
    uint32_t r = gb__listv(b, GB_ALT, n, ap);
    va_end(ap);
    return r;
}

uint32_t gram_repeat(gram_builder_t *b, uint32_t kid, uint32_t min, uint32_t max) {
    if (b->rc) return GRAM_NONE;
    if (kid >= b->n_nodes) return gram_build_fail(b, ERR_INVAL, "grammar: bad node id");
    if (max != GRAM_REPEAT_INF && max < min)
        return gram_build_fail(b, ERR_FORMAT, "repetition {%u,%u}: max below min", min, max);
    if (min > GRAM_MAX_REPEAT || (max != GRAM_REPEAT_INF && max > GRAM_MAX_REPEAT))
        return gram_build_fail(b, ERR_LIMIT, "repetition bound above %u", GRAM_MAX_REPEAT);
    if (max == 0) return gram_empty(b);
    if (min == 1 && max == 1) return kid;
    uint32_t id = gb__node(b, GB_REPEAT, kid, 0);
    if (id != GRAM_NONE) {
        b->nodes[id].min = min;
        b->nodes[id].max = max;
    }
    return id;
}

uint32_t gram_rule_new(gram_builder_t *b) {
    if (b->rc) return GRAM_NONE;
    if (b->n_rules >= GRAM_MAX_RULES)
        return gram_build_fail(b, ERR_LIMIT, "grammar too large: more than %u rules", GRAM_MAX_RULES);
    size_t cap = b->cap_rules;
    if (!gb__grow((void **)&b->rule_body, sizeof *b->rule_body, (size_t)b->n_rules + 1, &cap))
        return gram_build_fail(b, ERR_NOMEM, "grammar: out of memory");
    b->cap_rules = (uint32_t)cap;
    b->rule_body[b->n_rules] = GRAM_NONE;
    return b->n_rules++;
}

uint32_t gram_ref(gram_builder_t *b, uint32_t rule) {
    if (b->rc) return GRAM_NONE;
    if (rule >= b->n_rules) return gram_build_fail(b, ERR_INVAL, "grammar: bad rule id");
    return gb__node(b, GB_REF, rule, 0);
}

void gram_rule_define(gram_builder_t *b, uint32_t rule, uint32_t node) {
    if (b->rc) return;
    if (rule >= b->n_rules || node >= b->n_nodes) {
        gram_build_fail(b, ERR_INVAL, "grammar: bad rule or node id");
        return;
    }
    if (b->rule_body[rule] != GRAM_NONE) {
        gram_build_fail(b, ERR_INVAL, "grammar: rule %u defined twice", rule);
        return;
    }
    b->rule_body[rule] = node;
}

/* ---- lowering ------------------------------------------------------------------------------------------ */

/* A rule waiting to be lowered: from a node, or a raw alternative list (repetition tails). */
typedef struct {
    uint32_t rule;
    uint32_t node; /* GRAM_NONE: raw: alternatives [e0 (e1)] and "" */
    uint32_t e[2];
    uint8_t n_raw;
} gl_item_t;

typedef struct {
    gram_builder_t *b;
    uint32_t *elems;
    size_t n_elems, cap_elems;
    gram_set_t *sets;
    size_t n_sets, cap_sets;
    uint32_t *set_hash; /* open addressing over sets, index + 1, 0 = empty */
    size_t set_hash_cap;
    uint32_t *alt_rule; /* (n_alts) pairs: the rule of each alternative and its start */
    uint32_t *alt_start;
    size_t n_alts, cap_alts, cap_alts2;
    uint32_t n_rules;
    gl_item_t *queue;
    size_t n_queue, cap_queue;
    uint32_t *memo_rule; /* (n_nodes) ALT: its rule; REPEAT: its tail rule (GRAM_NONE: not yet, or no tail) */
    uint32_t *memo_x;    /* (n_nodes) REPEAT: the element repeated */
    uint32_t singleton[256];
} gl_t;

static int gl__push_elem(gl_t *l, uint32_t e) {
    if (l->n_elems >= GRAM_MAX_ELEMS)
        return gram_build_fail(l->b, ERR_LIMIT, "grammar too large: more than %u elements", GRAM_MAX_ELEMS), -1;
    if (!gb__grow((void **)&l->elems, sizeof *l->elems, l->n_elems + 1, &l->cap_elems))
        return gram_build_fail(l->b, ERR_NOMEM, "grammar: out of memory"), -1;
    l->elems[l->n_elems++] = e;
    return 0;
}

static uint64_t gl__set_hash(const gram_set_t *s) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 8; i++)
        h = (h ^ s->w[i]) * 1099511628211ull;
    return h;
}

/* The index of a set equal to s, adding it when new; UINT32_MAX on error. */
static uint32_t gl__set_id(gl_t *l, const gram_set_t *s) {
    if (l->n_sets * 2 + 2 > l->set_hash_cap) {
        size_t cap = l->set_hash_cap ? l->set_hash_cap * 2 : 256;
        uint32_t *h = calloc(cap, sizeof *h);
        if (!h) return gram_build_fail(l->b, ERR_NOMEM, "grammar: out of memory");
        for (size_t i = 0; i < l->n_sets; i++) {
            size_t j = gl__set_hash(&l->sets[i]) & (cap - 1);
            while (h[j])
                j = (j + 1) & (cap - 1);
            h[j] = (uint32_t)i + 1;
        }
        free(l->set_hash);
        l->set_hash = h;
        l->set_hash_cap = cap;
    }
    size_t j = gl__set_hash(s) & (l->set_hash_cap - 1);
    while (l->set_hash[j]) {
        uint32_t i = l->set_hash[j] - 1;
        if (memcmp(&l->sets[i], s, sizeof *s) == 0) return i;
        j = (j + 1) & (l->set_hash_cap - 1);
    }
    if (l->n_sets >= GE_ARG(UINT32_MAX))
        return gram_build_fail(l->b, ERR_LIMIT, "grammar too large: too many byte classes");
    if (!gb__grow((void **)&l->sets, sizeof *l->sets, l->n_sets + 1, &l->cap_sets))
        return gram_build_fail(l->b, ERR_NOMEM, "grammar: out of memory");
    l->sets[l->n_sets] = *s;
    l->set_hash[j] = (uint32_t)l->n_sets + 1;
    return (uint32_t)l->n_sets++;
}

static uint32_t gl__byte_elem(gl_t *l, uint8_t c) {
    if (l->singleton[c] == UINT32_MAX) {
        gram_set_t s;
        memset(&s, 0, sizeof s);
        gram_set_add(&s, c);
        uint32_t id = gl__set_id(l, &s);
        if (id == GRAM_NONE) return GRAM_NONE;
        l->singleton[c] = GE_MAKE(GE_SET, id);
    }
    return l->singleton[c];
}

static uint32_t gl__new_rule(gl_t *l, uint32_t node, uint32_t e0, uint32_t e1, uint8_t n_raw) {
    if (l->n_rules >= GRAM_MAX_RULES)
        return gram_build_fail(l->b, ERR_LIMIT, "grammar too large: more than %u rules", GRAM_MAX_RULES);
    if (!gb__grow((void **)&l->queue, sizeof *l->queue, l->n_queue + 1, &l->cap_queue))
        return gram_build_fail(l->b, ERR_NOMEM, "grammar: out of memory");
    gl_item_t *it = &l->queue[l->n_queue++];
    it->rule = l->n_rules;
    it->node = node;
    it->e[0] = e0;
    it->e[1] = e1;
    it->n_raw = n_raw;
    return l->n_rules++;
}

static int gl__begin_alt(gl_t *l, uint32_t rule) {
    size_t need = l->n_alts + 1;
    if (!gb__grow((void **)&l->alt_rule, sizeof *l->alt_rule, need, &l->cap_alts) ||
        !gb__grow((void **)&l->alt_start, sizeof *l->alt_start, need, &l->cap_alts2))
        return gram_build_fail(l->b, ERR_NOMEM, "grammar: out of memory"), -1;
    l->alt_rule[l->n_alts] = rule;
    l->alt_start[l->n_alts] = (uint32_t)l->n_elems;
    l->n_alts++;
    return 0;
}

/* The single element standing for node as a repetition's item: a class, a one-byte literal, a reference, or a
   reference to a new rule holding node. GRAM_NONE on error. */
static uint32_t gl__item_elem(gl_t *l, uint32_t node) {
    const gb_node_t *nd = &l->b->nodes[node];
    if (nd->kind == GB_SET) {
        uint32_t id = gl__set_id(l, &l->b->sets[nd->a]);
        return id == GRAM_NONE ? GRAM_NONE : GE_MAKE(GE_SET, id);
    }
    if (nd->kind == GB_BYTES && nd->n == 1) return gl__byte_elem(l, l->b->bytes[nd->a]);
    if (nd->kind == GB_REF) return GE_MAKE(GE_REF, nd->a);
    uint32_t r = gl__new_rule(l, node, 0, 0, 0);
    return r == GRAM_NONE ? GRAM_NONE : GE_MAKE(GE_REF, r);
}

/* Appends the elements of node to the alternative being written. */
static int gl__emit(gl_t *l, uint32_t node, int depth) {
    gram_builder_t *b = l->b;
    if (depth > 2000) return gram_build_fail(b, ERR_LIMIT, "grammar nested more than 2000 levels deep"), -1;
    const gb_node_t nd = b->nodes[node];
    switch (nd.kind) {
    case GB_EMPTY: return 0;
    case GB_BYTES:
        for (uint32_t i = 0; i < nd.n; i++) {
            uint32_t e = gl__byte_elem(l, b->bytes[nd.a + i]);
            if (e == GRAM_NONE || gl__push_elem(l, e)) return -1;
        }
        return 0;
    case GB_SET: {
        uint32_t e = gl__item_elem(l, node);
        return e == GRAM_NONE ? -1 : gl__push_elem(l, e);
    }
    case GB_SEQ:
        for (uint32_t i = 0; i < nd.n; i++)
            if (gl__emit(l, b->kids[nd.a + i], depth + 1)) return -1;
        return 0;
    case GB_ALT:
        if (l->memo_rule[node] == GRAM_NONE) {
            uint32_t r = gl__new_rule(l, node, 0, 0, 0);
            if (r == GRAM_NONE) return -1;
            l->memo_rule[node] = r;
        }
        return gl__push_elem(l, GE_MAKE(GE_REF, l->memo_rule[node]));
    case GB_REF: return gl__push_elem(l, GE_MAKE(GE_REF, nd.a));
    case GB_REPEAT: {
        if (l->memo_x[node] == GRAM_NONE) {
            uint32_t x = gl__item_elem(l, nd.a);
            if (x == GRAM_NONE) return -1;
            l->memo_x[node] = x;
            uint32_t tail = GRAM_NONE;
            if (nd.max == GRAM_REPEAT_INF) {
                tail = l->n_rules; /* S -> x S | "" */
                if (gl__new_rule(l, GRAM_NONE, x, GE_MAKE(GE_REF, tail), 2) == GRAM_NONE) return -1;
            } else {
                for (uint32_t j = 0; j < nd.max - nd.min; j++) {
                    uint32_t r = j == 0 ? gl__new_rule(l, GRAM_NONE, x, 0, 1)
                                        : gl__new_rule(l, GRAM_NONE, x, GE_MAKE(GE_REF, tail), 2);
                    if (r == GRAM_NONE) return -1;
                    tail = r;
                }
            }
            l->memo_rule[node] = tail;
        }
        for (uint32_t i = 0; i < nd.min; i++)
            if (gl__push_elem(l, l->memo_x[node])) return -1;
        if (l->memo_rule[node] != GRAM_NONE) return gl__push_elem(l, GE_MAKE(GE_REF, l->memo_rule[node]));
        return 0;
    }
    }
    return gram_build_fail(b, ERR_INVAL, "grammar: bad node kind"), -1;
}

/* Lowers one rule: its body's alternatives (nested top-level alternatives flattened), each ended by GE_END. */
static int gl__lower_body(gl_t *l, uint32_t rule, uint32_t node, int depth) {
    const gb_node_t *nd = &l->b->nodes[node];
    if (nd->kind == GB_ALT && depth < 64) {
        uint32_t a = nd->a, n = nd->n;
        for (uint32_t i = 0; i < n; i++)
            if (gl__lower_body(l, rule, l->b->kids[a + i], depth + 1)) return -1;
        return 0;
    }
    if (gl__begin_alt(l, rule)) return -1;
    if (gl__emit(l, node, 0)) return -1;
    return gl__push_elem(l, GE_MAKE(GE_END, 0));
}

static int gl__lower_item(gl_t *l, const gl_item_t *it) {
    if (it->node != GRAM_NONE) return gl__lower_body(l, it->rule, it->node, 0);
    if (gl__begin_alt(l, it->rule)) return -1;
    for (int i = 0; i < it->n_raw; i++)
        if (gl__push_elem(l, it->e[i])) return -1;
    if (gl__push_elem(l, GE_MAKE(GE_END, 0))) return -1;
    if (gl__begin_alt(l, it->rule)) return -1; /* the empty alternative */
    return gl__push_elem(l, GE_MAKE(GE_END, 0));
}

/* ---- checks ---------------------------------------------------------------------------------------------- */

/*
 * Marks the rules for which every element of some alternative is "done": nullable (skip_sets false: a class
 * blocks forever) or productive (skip_sets true: classes always finish). Linear: each alternative counts its
 * references not yet known done; a rule found done decrements the count of every alternative that refers to it.
 */
static int gl__fixpoint(const uint32_t *elems, const uint32_t *alt_rule, const uint32_t *alt_start, size_t n_alts,
                        uint32_t n_rules, bool skip_sets, uint8_t *done) {
    int rc = ERR_NOMEM;
    uint32_t *cnt = calloc(n_alts ? n_alts : 1, sizeof *cnt);
    uint32_t *occ_off = calloc((size_t)n_rules + 1, sizeof *occ_off);
    uint32_t *occ = NULL, *queue = calloc((size_t)n_rules + 1, sizeof *queue);
    size_t n_occ = 0;
    if (!cnt || !occ_off || !queue) goto cleanup;
    for (size_t a = 0; a < n_alts; a++)
        for (uint32_t p = alt_start[a]; GE_TYPE(elems[p]) != GE_END; p++) {
            if (GE_TYPE(elems[p]) == GE_SET) {
                if (!skip_sets) cnt[a] = UINT32_MAX / 2;
                continue;
            }
            cnt[a]++;
            occ_off[GE_ARG(elems[p])]++;
            n_occ++;
        }
    occ = malloc((n_occ ? n_occ : 1) * sizeof *occ);
    if (!occ) goto cleanup;
    uint32_t sum = 0;
    for (uint32_t r = 0; r <= n_rules; r++) { /* prefix sums: occ_off[r] = end of r's slice */
        sum += occ_off[r];
        occ_off[r] = sum;
    }
    for (size_t a = n_alts; a-- > 0;)
        for (uint32_t p = alt_start[a]; GE_TYPE(elems[p]) != GE_END; p++)
            if (GE_TYPE(elems[p]) == GE_REF) occ[--occ_off[GE_ARG(elems[p])]] = (uint32_t)a;
    size_t qh = 0, qt = 0;
    memset(done, 0, n_rules);
    for (size_t a = 0; a < n_alts; a++)
        if (cnt[a] == 0 && !done[alt_rule[a]]) {
            done[alt_rule[a]] = 1;
            queue[qt++] = alt_rule[a];
        }
    while (qh < qt) {
        uint32_t r = queue[qh++];
        for (uint32_t i = occ_off[r]; i < occ_off[r + 1]; i++) {
            uint32_t a = occ[i];
            if (--cnt[a] == 0 && !done[alt_rule[a]]) {
                done[alt_rule[a]] = 1;
                queue[qt++] = alt_rule[a];
            }
        }
    }
    rc = 0;
cleanup:
    free(cnt);
    free(occ_off);
    free(occ);
    free(queue);
    return rc;
}

/* Left recursion: a cycle in "rule r can enter rule s before consuming a byte". Iterative DFS, three colours. */
static int gl__check_left(const gram_t *g, const uint8_t *nullable, char *err, size_t err_len) {
    int rc = ERR_NOMEM;
    uint8_t *colour = calloc(g->n_rules ? g->n_rules : 1, 1);
    uint32_t *st_rule = malloc(((size_t)g->n_rules + 1) * sizeof *st_rule);
    uint32_t *st_alt = malloc(((size_t)g->n_rules + 1) * sizeof *st_alt); /* next alternative index to scan */
    uint32_t *st_pos = malloc(((size_t)g->n_rules + 1) * sizeof *st_pos); /* next element in it, or UINT32_MAX */
    if (!colour || !st_rule || !st_alt || !st_pos) {
        err_set(err, err_len, ERR_NOMEM, "grammar: out of memory");
        goto cleanup;
    }
    for (uint32_t root = 0; root < g->n_rules; root++) {
        if (colour[root]) continue;
        size_t sp = 0;
        st_rule[0] = root;
        st_alt[0] = g->rule_alt[root];
        st_pos[0] = UINT32_MAX;
        colour[root] = 1;
        while (sp != SIZE_MAX) {
            uint32_t r = st_rule[sp];
            uint32_t next = UINT32_MAX;
            while (next == UINT32_MAX && st_alt[sp] < g->rule_alt[r + 1]) {
                if (st_pos[sp] == UINT32_MAX) st_pos[sp] = g->alts[st_alt[sp]];
                uint32_t e = g->elems[st_pos[sp]];
                if (GE_TYPE(e) == GE_REF) {
                    next = GE_ARG(e);
                    if (nullable[next])
                        st_pos[sp]++;
                    else
                        st_alt[sp]++, st_pos[sp] = UINT32_MAX;
                } else {
                    st_alt[sp]++;
                    st_pos[sp] = UINT32_MAX;
                }
            }
            if (next == UINT32_MAX) {
                colour[r] = 2;
                sp = sp == 0 ? SIZE_MAX : sp - 1;
                continue;
            }
            if (colour[next] == 1) {
                rc = err_set(err, err_len, ERR_FORMAT,
                             "left recursion: rule %u can reach itself without consuming input", next);
                goto cleanup;
            }
            if (colour[next] == 0) {
                colour[next] = 1;
                sp++;
                st_rule[sp] = next;
                st_alt[sp] = g->rule_alt[next];
                st_pos[sp] = UINT32_MAX;
            }
        }
    }
    rc = 0;
cleanup:
    free(colour);
    free(st_rule);
    free(st_alt);
    free(st_pos);
    return rc;
}

int gram_build_compile(gram_builder_t *b, gram_t **out, char *err, size_t err_len) {
    if (!b || !out) return err_set(err, err_len, ERR_INVAL, "gram_build_compile: NULL argument");
    *out = NULL;
    if (b->rc) return err_set(err, err_len, b->rc, "%s", b->msg);
    for (uint32_t r = 0; r < b->n_rules; r++)
        if (b->rule_body[r] == GRAM_NONE) return err_set(err, err_len, ERR_FORMAT, "grammar: rule %u is undefined", r);

    gl_t l;
    memset(&l, 0, sizeof l);
    l.b = b;
    l.n_rules = b->n_rules;
    memset(l.singleton, 0xff, sizeof l.singleton);
    gram_t *g = NULL;
    uint8_t *nullable = NULL, *productive = NULL;
    int rc = ERR_NOMEM;
    l.memo_rule = malloc(((size_t)b->n_nodes + 1) * sizeof *l.memo_rule);
    l.memo_x = malloc(((size_t)b->n_nodes + 1) * sizeof *l.memo_x);
    if (!l.memo_rule || !l.memo_x) {
        rc = err_set(err, err_len, ERR_NOMEM, "grammar: out of memory");
        goto cleanup;
    }
    memset(l.memo_rule, 0xff, ((size_t)b->n_nodes + 1) * sizeof *l.memo_rule);
    memset(l.memo_x, 0xff, ((size_t)b->n_nodes + 1) * sizeof *l.memo_x);

    /* The start: [REF root, END] at positions 0 and 1. */
    if (gl__push_elem(&l, GE_MAKE(GE_REF, GRAM_ROOT)) || gl__push_elem(&l, GE_MAKE(GE_END, 0))) goto fail;
    for (uint32_t r = 0; r < b->n_rules; r++)
        if (gl__lower_body(&l, r, b->rule_body[r], 0)) goto fail;
    for (size_t i = 0; i < l.n_queue; i++) {
        gl_item_t it = l.queue[i];
        if (gl__lower_item(&l, &it)) goto fail;
    }

    nullable = calloc(l.n_rules, 1);
    productive = calloc(l.n_rules, 1);
    if (!nullable || !productive) goto nomem;
    if (gl__fixpoint(l.elems, l.alt_rule, l.alt_start, l.n_alts, l.n_rules, false, nullable) ||
        gl__fixpoint(l.elems, l.alt_rule, l.alt_start, l.n_alts, l.n_rules, true, productive))
        goto nomem;
    if (!productive[GRAM_ROOT]) {
        rc = err_set(err, err_len, ERR_FORMAT,
                     "grammar: the root can never finish (every way through it recurses "
                     "without end)");
        goto cleanup;
    }

    g = calloc(1, sizeof *g);
    if (!g) goto nomem;
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    g->n_rules = l.n_rules;
    g->rule_alt = calloc((size_t)l.n_rules + 1, sizeof *g->rule_alt);
    g->alts = malloc((l.n_alts ? l.n_alts : 1) * sizeof *g->alts);
    if (!g->rule_alt || !g->alts) goto nomem;
    /* Keep the alternatives whose references all finish, grouped by rule (counting sort, stable). */
    for (size_t a = 0; a < l.n_alts; a++) {
        bool live = true;
        for (uint32_t p = l.alt_start[a]; GE_TYPE(l.elems[p]) != GE_END; p++)
            if (GE_TYPE(l.elems[p]) == GE_REF && !productive[GE_ARG(l.elems[p])]) live = false;
        if (live)
            g->rule_alt[l.alt_rule[a] + 1]++;
        else
            l.alt_rule[a] = UINT32_MAX;
    }
    for (uint32_t r = 0; r < l.n_rules; r++)
        g->rule_alt[r + 1] += g->rule_alt[r];
    {
        uint32_t *fill = calloc(l.n_rules ? l.n_rules : 1, sizeof *fill);
        if (!fill) goto nomem;
        for (size_t a = 0; a < l.n_alts; a++)
            if (l.alt_rule[a] != UINT32_MAX) {
                uint32_t r = l.alt_rule[a];
                g->alts[g->rule_alt[r] + fill[r]++] = l.alt_start[a];
            }
        free(fill);
    }
    g->elems = l.elems;
    g->n_elems = (uint32_t)l.n_elems;
    l.elems = NULL;
    g->sets = l.sets;
    g->n_sets = (uint32_t)l.n_sets;
    l.sets = NULL;
    rc = gl__check_left(g, nullable, err, err_len);
    if (rc) goto cleanup;
    *out = g;
    g = NULL;
    goto cleanup;

nomem:
    rc = err_set(err, err_len, ERR_NOMEM, "grammar: out of memory");
    goto cleanup;
fail:
    rc = err_set(err, err_len, b->rc ? b->rc : ERR_NOMEM, "%s", b->rc ? b->msg : "grammar: out of memory");
cleanup:
    gram_free(g);
    free(nullable);
    free(productive);
    free(l.elems);
    free(l.sets);
    free(l.set_hash);
    free(l.alt_rule);
    free(l.alt_start);
    free(l.queue);
    free(l.memo_rule);
    free(l.memo_x);
    return rc;
}

gram_t *gram_retain(gram_t *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void gram_free(gram_t *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    gram__cache_free(g);
    pthread_mutex_destroy(&g->mu);
    free(g->elems);
    free(g->sets);
    free(g->rule_alt);
    free(g->alts);
    free(g->cache);
    free(g);
}

void gram_stats(const gram_t *g, gram_stats_t *out) {
    memset(out, 0, sizeof *out);
    if (!g) return;
    out->n_rules = g->n_rules;
    out->n_elems = g->n_elems;
    out->n_sets = g->n_sets;
    pthread_mutex_lock((pthread_mutex_t *)&g->mu);
    out->n_cached = g->n_cached;
    pthread_mutex_unlock((pthread_mutex_t *)&g->mu);
}
