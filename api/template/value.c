/*
 * value.c — template values: lifetime, construction, Python truthiness/equality/ordering, str() and repr().
 *
 * Owns: everything declared in value.h except the tu_* Unicode helpers (unicode.c).
 * Every allocation is charged to the render's budget (te_charge) and every string or list is bounded by the
 * render's max_str, so a hostile template fails with ERR_LIMIT instead of exhausting memory.
 * Releasing uses an explicit free list, so a 100000-deep nest of lists is freed without deep recursion.
 *
 * Single-threaded per render (see value.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

/* ---- lifetime ---- */

void tv_retain(tval_t v) {
    if (tv_is_heap(v) && v.u.o->refs >= 0) v.u.o->refs++;
}

/* Drops one reference of child; a child reaching zero is pushed on the free list. */
static void drop(tval_t v, tobj_t **dead) {
    if (!tv_is_heap(v)) return;
    tobj_t *o = v.u.o;
    if (o->refs < 0) return;
    if (--o->refs == 0) {
        o->dead_next = *dead;
        *dead = o;
    }
}

static void free_chain(tobj_t *first) {
    tobj_t *dead = first;
    first->dead_next = NULL;
    while (dead) {
        tobj_t *o = dead;
        dead = o->dead_next;
        switch (o->kind) {
        case TV_LIST: {
            tlist_t *l = (tlist_t *)o;
            for (size_t i = 0; i < l->n; i++)
                drop(l->v[i], &dead);
            free(l->v);
            break;
        }
        case TV_DICT:
        case TV_NS: {
            tdict_t *d = (tdict_t *)o;
            for (size_t i = 0; i < d->n; i++) {
                drop(d->k[i], &dead);
                drop(d->v[i], &dead);
            }
            free(d->k);
            free(d->v);
            break;
        }
        case TV_UNDEF: drop(((tundef_t *)o)->key, &dead); break;
        case TV_METHOD: drop(((tmethod_t *)o)->self, &dead); break;
        case TV_GEN: drop(tv_obj(TV_LIST, ((tgen_t *)o)->items), &dead); break;
        case TV_LOOP: {
            tloop_t *lp = (tloop_t *)o;
            drop(tv_obj(TV_LIST, lp->items), &dead);
            drop(lp->changed_last, &dead);
            break;
        }
        case TV_CYCLER: drop(tv_obj(TV_LIST, ((tcycler_t *)o)->items), &dead); break;
        default: break; /* TV_STR, TV_MACRO: no children (a macro's closure frame belongs to the render) */
        }
        free(o);
    }
}

void tv_release(tval_t v) {
    if (!tv_is_heap(v)) return;
    tobj_t *o = v.u.o;
    if (o->refs < 0) return;
    if (--o->refs == 0) free_chain(o);
}

void tv_clear(tval_t *v) {
    tv_release(*v);
    *v = tv_undef();
}

/* ---- construction ---- */

static void *obj_new(trender_t *r, size_t size, uint8_t kind) {
    if (te_charge(r, size)) return NULL;
    tobj_t *o = calloc(1, size);
    if (!o) {
        te_fail(r, ERR_NOMEM, "out of memory");
        return NULL;
    }
    o->refs = 1;
    o->kind = kind;
    return o;
}

static int too_long(trender_t *r, size_t n) {
    return te_fail(r, ERR_LIMIT, "string or list of %zu elements exceeds the render limit of %zu", n, r->max_str);
}

int tv_str_new(trender_t *r, const char *s, size_t n, tval_t *out) {
    if (n > r->max_str) return too_long(r, n);
    tstr_t *t = obj_new(r, sizeof(tstr_t) + n + 1, TV_STR);
    if (!t) return r->rc;
    if (n) memcpy(t->s, s, n);
    t->s[n] = 0;
    t->len = n;
    *out = tv_obj(TV_STR, t);
    return 0;
}

int tv_str_cstr(trender_t *r, const char *s, tval_t *out) { return tv_str_new(r, s, strlen(s), out); }

int tv_list_new(trender_t *r, size_t cap, bool tuple, tval_t *out) {
    tlist_t *l = obj_new(r, sizeof(tlist_t), TV_LIST);
    if (!l) return r->rc;
    l->tuple = tuple;
    if (cap) {
        if (cap > r->max_str) {
            free(l);
            return too_long(r, cap);
        }
        if (te_charge(r, cap * sizeof(tval_t)) || !(l->v = malloc(cap * sizeof(tval_t)))) {
            free(l);
            return r->rc ? r->rc : te_fail(r, ERR_NOMEM, "out of memory");
        }
        l->cap = cap;
    }
    *out = tv_obj(TV_LIST, l);
    return 0;
}

int tv_list_push(trender_t *r, tlist_t *l, tval_t v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        if (l->n + 1 > r->max_str / sizeof(tval_t)) {
            tv_release(v);
            return too_long(r, l->n + 1);
        }
        tval_t *nv = NULL;
        if (te_charge(r, (cap - l->cap) * sizeof(tval_t)) || !(nv = realloc(l->v, cap * sizeof(tval_t)))) {
            tv_release(v);
            return r->rc ? r->rc : te_fail(r, ERR_NOMEM, "out of memory");
        }
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

int tv_dict_new(trender_t *r, size_t cap, tval_t *out) {
    tdict_t *d = obj_new(r, sizeof(tdict_t), TV_DICT);
    if (!d) return r->rc;
    (void)cap;
    *out = tv_obj(TV_DICT, d);
    return 0;
}

tval_t *tv_dict_get_str(const tdict_t *d, const char *s, size_t n) {
    for (size_t i = 0; i < d->n; i++) {
        tval_t k = d->k[i];
        if (k.kind == TV_STR && tv_s(k)->len == n && memcmp(tv_s(k)->s, s, n) == 0) return &d->v[i];
    }
    return NULL;
}

tval_t *tv_dict_get(const tdict_t *d, tval_t k) {
    if (k.kind == TV_STR) return tv_dict_get_str(d, tv_s(k)->s, tv_s(k)->len);
    for (size_t i = 0; i < d->n; i++)
        if (tv_eq(d->k[i], k)) return &d->v[i];
    return NULL;
}

int tv_dict_set(trender_t *r, tdict_t *d, tval_t k, tval_t v) {
    tval_t *slot = tv_dict_get(d, k);
    if (slot) {
        tv_release(*slot);
        *slot = v;
        tv_release(k);
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        tval_t *nk = NULL, *nv = NULL;
        if (d->n + 1 > r->max_str / sizeof(tval_t) || te_charge(r, (cap - d->cap) * 2 * sizeof(tval_t)) ||
            !(nk = realloc(d->k, cap * sizeof(tval_t)))) {
            tv_release(k);
            tv_release(v);
            return r->rc ? r->rc : te_fail(r, ERR_NOMEM, "out of memory");
        }
        d->k = nk;
        if (!(nv = realloc(d->v, cap * sizeof(tval_t)))) {
            tv_release(k);
            tv_release(v);
            return te_fail(r, ERR_NOMEM, "out of memory");
        }
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
    return 0;
}

int tv_undef_new(trender_t *r, tundef_how_t how, const char *owner, tval_t key, tval_t *out) {
    tundef_t *u = obj_new(r, sizeof(tundef_t), TV_UNDEF);
    if (!u) return r->rc;
    u->how = (uint8_t)how;
    u->owner = owner;
    u->key = key;
    tv_retain(key);
    *out = tv_obj(TV_UNDEF, u);
    return 0;
}

int tv_undef_msg(trender_t *r, const char *msg, tval_t *out) {
    tundef_t *u = obj_new(r, sizeof(tundef_t), TV_UNDEF);
    if (!u) return r->rc;
    u->how = TU_MSG;
    u->msg = msg;
    *out = tv_obj(TV_UNDEF, u);
    return 0;
}

int tv_method_new(trender_t *r, tval_t self, const char *name, tval_t *out) {
    tmethod_t *m = obj_new(r, sizeof(tmethod_t), TV_METHOD);
    if (!m) return r->rc;
    m->self = self;
    tv_retain(self);
    m->name = name;
    *out = tv_obj(TV_METHOD, m);
    return 0;
}

int tv_gen_new(trender_t *r, tval_t items, const char *type, tval_t *out) {
    tgen_t *g = obj_new(r, sizeof(tgen_t), TV_GEN);
    if (!g) {
        tv_release(items);
        return r->rc;
    }
    g->items = tv_l(items);
    g->type = type;
    *out = tv_obj(TV_GEN, g);
    return 0;
}

/* ---- Python semantics ---- */

bool tv_truthy(tval_t v) {
    switch (v.kind) {
    case TV_UNDEF:
    case TV_NONE: return false;
    case TV_BOOL:
    case TV_INT: return v.u.i != 0;
    case TV_FLOAT: return v.u.f != 0.0;
    case TV_STR: return tv_s(v)->len > 0;
    case TV_LIST: return tv_l(v)->n > 0;
    case TV_DICT: return tv_d(v)->n > 0;
    default: return true;
    }
}

static bool eq_depth(tval_t a, tval_t b, int depth) {
    if (depth > TV_MAX_NEST) return false;
    if (tv_is_num(a) && tv_is_num(b)) {
        if (a.kind != TV_FLOAT && b.kind != TV_FLOAT) return a.u.i == b.u.i;
        return tv_num(a) == tv_num(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case TV_UNDEF:
    case TV_NONE: return true;
    case TV_FUNC: return a.u.i == b.u.i;
    case TV_STR: return tv_s(a)->len == tv_s(b)->len && memcmp(tv_s(a)->s, tv_s(b)->s, tv_s(a)->len) == 0;
    case TV_LIST: {
        tlist_t *x = tv_l(a), *y = tv_l(b);
        if (x->tuple != y->tuple || x->view != y->view || x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++)
            if (!eq_depth(x->v[i], y->v[i], depth + 1)) return false;
        return true;
    }
    case TV_DICT: {
        tdict_t *x = tv_d(a), *y = tv_d(b);
        if (x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++) {
            tval_t *w = tv_dict_get(y, x->k[i]);
            if (!w || !eq_depth(x->v[i], *w, depth + 1)) return false;
        }
        return true;
    }
    default: return a.u.o == b.u.o;
    }
}

bool tv_eq(tval_t a, tval_t b) { return eq_depth(a, b, 0); }

static int cmp_depth(trender_t *r, tval_t a, tval_t b, int *res, int depth) {
    if (depth > TV_MAX_NEST) return te_fail(r, ERR_LIMIT, "value nested more than %d levels deep", TV_MAX_NEST);
    if (a.kind == TV_UNDEF) return tv_undef_fail(r, a);
    if (b.kind == TV_UNDEF) return tv_undef_fail(r, b);
    if (tv_is_num(a) && tv_is_num(b)) {
        if (a.kind != TV_FLOAT && b.kind != TV_FLOAT)
            *res = (a.u.i > b.u.i) - (a.u.i < b.u.i);
        else
            *res = (tv_num(a) > tv_num(b)) - (tv_num(a) < tv_num(b));
        return 0;
    }
    if (a.kind == TV_STR && b.kind == TV_STR) {
        tstr_t *x = tv_s(a), *y = tv_s(b);
        size_t n = x->len < y->len ? x->len : y->len;
        int c = memcmp(x->s, y->s, n);
        *res = c ? (c > 0 ? 1 : -1) : (x->len > y->len) - (x->len < y->len);
        return 0;
    }
    if (a.kind == TV_LIST && b.kind == TV_LIST && tv_l(a)->tuple == tv_l(b)->tuple) {
        tlist_t *x = tv_l(a), *y = tv_l(b);
        for (size_t i = 0; i < x->n && i < y->n; i++) {
            if (tv_eq(x->v[i], y->v[i])) continue;
            return cmp_depth(r, x->v[i], y->v[i], res, depth + 1);
        }
        *res = (x->n > y->n) - (x->n < y->n);
        return 0;
    }
    return te_fail(r, ERR_TEMPLATE, "'<' not supported between instances of '%s' and '%s'", tv_type_name(a),
                   tv_type_name(b));
}

int tv_cmp(trender_t *r, tval_t a, tval_t b, int *res) { return cmp_depth(r, a, b, res, 0); }

const char *tv_type_name(tval_t v) {
    switch (v.kind) {
    case TV_UNDEF: return "Undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_FLOAT: return "float";
    case TV_FUNC: return "function";
    case TV_STR: return v.safe ? "Markup" : "str";
    case TV_LIST: {
        static const char *const views[] = {"list", "dict_keys", "dict_values", "dict_items"};
        return tv_l(v)->tuple ? "tuple" : views[tv_l(v)->view & 3];
    }
    case TV_DICT: return "dict";
    case TV_NS: return "Namespace";
    case TV_MACRO: return "Macro";
    case TV_METHOD: return "builtin_function_or_method";
    case TV_LOOP: return "LoopContext";
    case TV_GEN: return ((tgen_t *)v.u.o)->type;
    case TV_CYCLER: return ((tcycler_t *)v.u.o)->joiner ? "Joiner" : "Cycler";
    default: return "object";
    }
}

const char *tv_owner_name(tval_t v) {
    switch (v.kind) {
    case TV_NONE: return "None";
    case TV_BOOL: return "bool object";
    case TV_INT: return "int object";
    case TV_FLOAT: return "float object";
    case TV_STR: return v.safe ? "markupsafe.Markup object" : "str object";
    case TV_LIST: return tv_l(v)->tuple ? "tuple object" : "list object";
    case TV_DICT: return "dict object";
    case TV_NS: return "jinja2.utils.Namespace object";
    case TV_MACRO: return "jinja2.runtime.Macro object";
    case TV_LOOP: return "jinja2.runtime.LoopContext object";
    case TV_GEN: return "generator object";
    case TV_CYCLER: return "jinja2.utils.Cycler object";
    case TV_METHOD: return "builtin_function_or_method object";
    default: return "function object";
    }
}

/* A short repr of an Undefined's key for messages: 'name' or 123. */
static void key_repr(tval_t k, char *buf, size_t len) {
    if (k.kind == TV_STR) {
        snprintf(buf, len, "'%.*s'", (int)(tv_s(k)->len > 200 ? 200 : tv_s(k)->len), tv_s(k)->s);
    } else if (k.kind == TV_INT) {
        snprintf(buf, len, "%" PRId64, k.u.i);
    } else if (k.kind == TV_FLOAT) {
        tv_fmt_float(k.u.f, buf, len);
    } else if (k.kind == TV_BOOL) {
        snprintf(buf, len, "%s", k.u.i ? "True" : "False");
    } else if (k.kind == TV_NONE) {
        snprintf(buf, len, "None");
    } else {
        snprintf(buf, len, "<%s>", tv_type_name(k));
    }
}

void tv_undef_text(tval_t u, char *buf, size_t len) {
    tundef_t *h = (tundef_t *)u.u.o;
    char key[256];
    if (u.kind != TV_UNDEF || !h) {
        snprintf(buf, len, "value is undefined");
        return;
    }
    key_repr(h->key, key, sizeof(key));
    switch (h->how) {
    case TU_NAME: snprintf(buf, len, "%s is undefined", key); break;
    case TU_ATTR: snprintf(buf, len, "'%s' has no attribute %s", h->owner, key); break;
    case TU_ELEM: snprintf(buf, len, "%s has no element %s", h->owner, key); break;
    case TU_UNSAFE: snprintf(buf, len, "access to attribute %s of '%s' object is unsafe.", key, h->owner); break;
    default: snprintf(buf, len, "%s", h->msg ? h->msg : "value is undefined"); break;
    }
}

int tv_undef_fail(trender_t *r, tval_t u) {
    char msg[600];
    tv_undef_text(u, msg, sizeof(msg));
    return te_fail(r, ERR_TEMPLATE, "%s", msg);
}

/* ---- buffers ---- */

int tb_put(trender_t *r, tbuf_t *b, const char *p, size_t n) {
    size_t len = tb_len(b);
    if (n > r->max_str || len + n > r->max_str) return too_long(r, len + n);
    if (!b->s || len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        if (cap < len + n) cap = len + n;
        if (cap > r->max_str) cap = r->max_str;
        if (te_charge(r, cap - b->cap)) return r->rc;
        tstr_t *s = realloc(b->s, sizeof(tstr_t) + cap + 1);
        if (!s) return te_fail(r, ERR_NOMEM, "out of memory");
        if (!b->s) {
            memset(s, 0, sizeof(tstr_t));
            s->h.refs = 1;
            s->h.kind = TV_STR;
        }
        b->s = s;
        b->cap = cap;
    }
    if (n) memcpy(b->s->s + len, p, n);
    b->s->len = len + n;
    b->s->s[len + n] = 0;
    return 0;
}

int tb_putc(trender_t *r, tbuf_t *b, char c) { return tb_put(r, b, &c, 1); }
int tb_puts(trender_t *r, tbuf_t *b, const char *p) { return tb_put(r, b, p, strlen(p)); }

int tb_printf(trender_t *r, tbuf_t *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return te_fail(r, ERR_INVAL, "formatting failed");
    return tb_put(r, b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

int tb_putcp(trender_t *r, tbuf_t *b, uint32_t cp) {
    char d[4];
    size_t n;
    if (cp < 0x80) {
        d[0] = (char)cp;
        n = 1;
    } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
        d[0] = (char)(cp - 0xDC00); /* an undecodable byte, restored */
        n = 1;
    } else if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        d[0] = (char)(0xF0 | (cp >> 18));
        d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return tb_put(r, b, d, n);
}

int tb_finish(trender_t *r, tbuf_t *b, tval_t *out) {
    if (!b->s) return tv_str_new(r, "", 0, out);
    *out = tv_obj(TV_STR, b->s);
    b->s = NULL;
    b->cap = 0;
    return 0;
}

void tb_free(tbuf_t *b) {
    free(b->s);
    b->s = NULL;
    b->cap = 0;
}

/* ---- str() and repr() ---- */

void tv_fmt_float(double f, char *buf, size_t len) {
    if (isnan(f)) {
        snprintf(buf, len, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, len, f < 0 ? "-inf" : "inf");
        return;
    }
    /* shortest digits that round-trip, as Python's repr */
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp is [-]d[.ddd]e[+-]XX: split into digits and decimal exponent */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1) digits[nd++] = *p;
    digits[nd] = 0;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        digits[--nd] = 0;
    int decpt = exp10 + 1; /* value = 0.DIGITS * 10^decpt */
    size_t o = 0;
    char out[64];
    if (neg) out[o++] = '-';
    if (decpt > 16 || decpt < -3) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof(out) - o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (decpt <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -decpt; i++)
            out[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[o++] = digits[i];
        out[o] = 0;
    } else {
        for (int i = 0; i < decpt || (size_t)i < nd; i++) {
            if (i == decpt) out[o++] = '.';
            out[o++] = (size_t)i < nd ? digits[i] : '0';
        }
        if ((size_t)decpt >= nd) {
            out[o++] = '.';
            out[o++] = '0';
        }
        out[o] = 0;
    }
    snprintf(buf, len, "%s", out);
}

static int write_repr_str(trender_t *r, tbuf_t *b, const char *s, size_t n) {
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    int rc = tb_putc(r, b, q);
    for (size_t i = 0; i < n && !rc;) {
        size_t start = i;
        uint32_t c = tu_decode(s, n, &i);
        if (c == (uint32_t)q || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = tb_put(r, b, e, 2);
        } else if (c == '\n')
            rc = tb_put(r, b, "\\n", 2);
        else if (c == '\r')
            rc = tb_put(r, b, "\\r", 2);
        else if (c == '\t')
            rc = tb_put(r, b, "\\t", 2);
        else if (c >= 0x20 && c < 0x7F)
            rc = tb_putc(r, b, (char)c);
        else if (c >= 0x80 && tu_isprint(c))
            rc = tb_put(r, b, s + start, i - start);
        else if (c < 0x100)
            rc = tb_printf(r, b, "\\x%02x", c);
        else if (c < 0x10000)
            rc = tb_printf(r, b, "\\u%04x", c);
        else
            rc = tb_printf(r, b, "\\U%08x", c);
    }
    return rc ? rc : tb_putc(r, b, q);
}

static int write_value(trender_t *r, tbuf_t *b, tval_t v, bool repr, int depth);

static int write_items(trender_t *r, tbuf_t *b, const tval_t *items, size_t n, int depth) {
    for (size_t i = 0; i < n; i++) {
        int rc = (i ? tb_put(r, b, ", ", 2) : 0);
        if (!rc) rc = write_value(r, b, items[i], true, depth + 1);
        if (rc) return rc;
    }
    return 0;
}

static int write_dict(trender_t *r, tbuf_t *b, const tdict_t *d, int depth) {
    int rc = tb_putc(r, b, '{');
    for (size_t i = 0; i < d->n && !rc; i++) {
        if (i) rc = tb_put(r, b, ", ", 2);
        if (!rc) rc = write_value(r, b, d->k[i], true, depth + 1);
        if (!rc) rc = tb_put(r, b, ": ", 2);
        if (!rc) rc = write_value(r, b, d->v[i], true, depth + 1);
    }
    return rc ? rc : tb_putc(r, b, '}');
}

static int write_value(trender_t *r, tbuf_t *b, tval_t v, bool repr, int depth) {
    char num[40];
    if (depth > TV_MAX_NEST) return te_fail(r, ERR_LIMIT, "value nested more than %d levels deep", TV_MAX_NEST);
    switch (v.kind) {
    case TV_UNDEF: return repr ? tb_puts(r, b, "Undefined") : 0;
    case TV_NONE: return tb_puts(r, b, "None");
    case TV_BOOL: return tb_puts(r, b, v.u.i ? "True" : "False");
    case TV_INT: return tb_printf(r, b, "%" PRId64, v.u.i);
    case TV_FLOAT: tv_fmt_float(v.u.f, num, sizeof(num)); return tb_puts(r, b, num);
    case TV_STR:
        if (!repr) return tb_put(r, b, tv_s(v)->s, tv_s(v)->len);
        if (v.safe) {
            int rc = tb_puts(r, b, "Markup(");
            if (!rc) rc = write_repr_str(r, b, tv_s(v)->s, tv_s(v)->len);
            return rc ? rc : tb_putc(r, b, ')');
        }
        return write_repr_str(r, b, tv_s(v)->s, tv_s(v)->len);
    case TV_LIST: {
        tlist_t *l = tv_l(v);
        int rc = l->view ? tb_printf(r, b, "%s(", tv_type_name(v)) : 0;
        if (!rc) rc = tb_putc(r, b, l->tuple ? '(' : '[');
        if (!rc) rc = write_items(r, b, l->v, l->n, depth);
        if (!rc && l->tuple && l->n == 1) rc = tb_putc(r, b, ',');
        if (!rc) rc = tb_putc(r, b, l->tuple ? ')' : ']');
        return rc || !l->view ? rc : tb_putc(r, b, ')');
    }
    case TV_DICT: return write_dict(r, b, tv_d(v), depth);
    case TV_NS: {
        int rc = tb_puts(r, b, "<Namespace ");
        if (!rc) rc = write_dict(r, b, tv_d(v), depth);
        return rc ? rc : tb_putc(r, b, '>');
    }
    case TV_MACRO: {
        const tnode_t *def = ((tmacro_t *)v.u.o)->def;
        return tb_printf(r, b, "<Macro '%s'>", def->kind == N_MACRO ? def->name : "caller");
    }
    case TV_METHOD: {
        tmethod_t *m = (tmethod_t *)v.u.o;
        return tb_printf(r, b, "<built-in method %s of %s object>", m->name, tv_type_name(m->self));
    }
    case TV_LOOP: {
        tloop_t *lp = (tloop_t *)v.u.o;
        return tb_printf(r, b, "<LoopContext %zu/%zu>", lp->i + 1, lp->items->n);
    }
    case TV_GEN: return tb_printf(r, b, "<%s object>", ((tgen_t *)v.u.o)->type);
    case TV_CYCLER: return tb_printf(r, b, "<jinja2.utils.%s object>", tv_type_name(v));
    case TV_FUNC: return tb_puts(r, b, "<built-in function>");
    default: return 0;
    }
}

int tv_write_str(trender_t *r, tbuf_t *b, tval_t v) { return write_value(r, b, v, false, 0); }
int tv_write_repr(trender_t *r, tbuf_t *b, tval_t v) { return write_value(r, b, v, true, 0); }

int tv_to_str(trender_t *r, tval_t v, tval_t *out) {
    *out = tv_undef();
    if (v.kind == TV_STR) {
        tv_retain(v);
        *out = v;
        return 0;
    }
    tbuf_t b = {0};
    int rc = tv_write_str(r, &b, v);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}
