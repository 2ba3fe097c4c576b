/*
 * filters_seq.c — Jinja2's builtin filters over sequences and mappings.
 *
 * Owns: batch, count/length, dictsort, first, groupby, items, join, last, list, map, max, min, reject,
 * rejectattr, reverse, select, selectattr, slice, sort, sum, unique, and tf_sort_values (a stable merge sort with
 * Python's `<`).
 * Does not own: scalar filters (filters.c), the tests select/reject apply (tests.c).
 *
 * As in Jinja 3.1, map, select, reject, selectattr, rejectattr, unique, items, batch and slice return
 * generators: one-shot iterators that tojson refuses ("Object of type generator is not JSON serializable") and
 * that are truthy even when empty. They are computed eagerly here (filters have no side effects) and marked as
 * generators so every observable behaviour matches. Single-threaded per render.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

#define BIND(fname, ...)                                                                                               \
    static const char *const names_[] = {__VA_ARGS__};                                                                 \
    enum { N_ = sizeof(names_) / sizeof(names_[0]) };                                                                  \
    tval_t arg[N_];                                                                                                    \
    bool given[N_];                                                                                                    \
    int rc_ = te_bind(r, a, fname, names_, N_, arg, given);                                                            \
    if (rc_) return rc_

/* ---- sorting ---- */

typedef struct {
    trender_t *r;
    tval_t *keys;
    bool reverse;
    int rc;
} sort_ctx_t;

/* true if key[b] must come before key[a] (strictly), honouring reverse while keeping ties stable */
static bool before(sort_ctx_t *s, size_t b, size_t a) {
    int c = 0;
    if (s->rc) return false;
    s->rc = tv_cmp(s->r, s->keys[b], s->keys[a], &c);
    return s->reverse ? c > 0 : c < 0;
}

static void merge_sort(sort_ctx_t *s, size_t *idx, size_t *tmp, size_t n) {
    if (n < 2 || s->rc) return;
    size_t h = n / 2;
    merge_sort(s, idx, tmp, h);
    merge_sort(s, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = before(s, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof(size_t));
}

int tf_sort_values(trender_t *r, tval_t *vals, tval_t *keys, size_t n, bool reverse) {
    if (n < 2) return 0;
    if (te_charge(r, 3 * n * sizeof(size_t))) return r->rc;
    size_t *idx = malloc(n * sizeof(size_t)), *tmp = malloc(n * sizeof(size_t));
    tval_t *copy = malloc(n * sizeof(tval_t) * 2);
    int rc = 0;
    if (!idx || !tmp || !copy) rc = te_fail(r, ERR_NOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        sort_ctx_t s = {.r = r, .keys = keys, .reverse = reverse};
        merge_sort(&s, idx, tmp, n);
        rc = s.rc;
        if (!rc) {
            for (size_t i = 0; i < n; i++) {
                copy[i] = vals[idx[i]];
                copy[n + i] = keys[idx[i]];
            }
            memcpy(vals, copy, n * sizeof(tval_t));
            if (keys != vals) memcpy(keys, copy + n, n * sizeof(tval_t));
        }
    }
    free(idx);
    free(tmp);
    free(copy);
    return rc;
}

/* ---- attribute getters (make_attrgetter / make_multi_attrgetter) ---- */

/* item's attribute path (or the item itself when attr is Undefined), then ignore_case if asked. */
static int attr_key(trender_t *r, tval_t item, tval_t attr, bool lower, tval_t def, tval_t *out) {
    tval_t v;
    int rc;
    if (attr.kind == TV_UNDEF || attr.kind == TV_NONE) {
        tv_retain(item);
        v = item;
        rc = 0;
    } else {
        rc = te_getattr_path(r, item, attr, &v);
    }
    if (rc) return rc;
    if (v.kind == TV_UNDEF && def.kind != TV_UNDEF && def.kind != TV_NONE) {
        tv_release(v);
        tv_retain(def);
        v = def;
    }
    if (!lower) {
        *out = v;
        return 0;
    }
    rc = tf_ignore_case(r, v, out);
    tv_release(v);
    return rc;
}

/* Keys for sort: a list of values when attr names several comma-separated attributes. */
static int multi_key(trender_t *r, tval_t item, tval_t attr, bool lower, tval_t *out) {
    if (attr.kind != TV_STR || !memchr(tv_s(attr)->s, ',', tv_s(attr)->len))
        return attr_key(r, item, attr, lower, tv_undef(), out);
    int rc = tv_list_new(r, 0, false, out);
    const char *s = tv_s(attr)->s;
    size_t n = tv_s(attr)->len, b = 0;
    while (!rc && b <= n) {
        size_t e = b;
        while (e < n && s[e] != ',')
            e++;
        tval_t part, k;
        if (!(rc = tv_str_new(r, s + b, e - b, &part))) {
            rc = attr_key(r, item, part, lower, tv_undef(), &k);
            tv_release(part);
            if (!rc) rc = tv_list_push(r, tv_l(*out), k);
        }
        b = e + 1;
    }
    if (rc) tv_clear(out);
    return rc;
}

/* ---- helpers ---- */

static int to_gen(trender_t *r, tval_t list, const char *type, tval_t *out) { return tv_gen_new(r, list, type, out); }

static int f_list(trender_t *r, tval_t in, const targs_t *a, tval_t *out) { return te_to_list(r, in, out); }

static int f_length(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    switch (in.kind) {
    case TV_UNDEF: *out = tv_int(0); return 0;
    case TV_STR: *out = tv_int((int64_t)tu_len(tv_s(in)->s, tv_s(in)->len)); return 0;
    case TV_LIST: *out = tv_int((int64_t)tv_l(in)->n); return 0;
    case TV_DICT: *out = tv_int((int64_t)tv_d(in)->n); return 0;
    case TV_LOOP: *out = tv_int((int64_t)((tloop_t *)in.u.o)->items->n); return 0;
    default: return te_fail(r, ERR_TEMPLATE, "object of type '%s' has no len()", tv_type_name(in));
    }
}

static int f_first(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    if (in.kind == TV_GEN) {
        tgen_t *g = (tgen_t *)in.u.o;
        if (g->pos < g->items->n) {
            *out = g->items->v[g->pos++];
            tv_retain(*out);
            return 0;
        }
        return tv_undef_msg(r, "No first item, sequence was empty.", out);
    }
    tval_t l;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    if (tv_l(l)->n) {
        *out = tv_l(l)->v[0];
        tv_retain(*out);
    } else {
        rc = tv_undef_msg(r, "No first item, sequence was empty.", out);
    }
    tv_release(l);
    return rc;
}

static int f_last(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    if (in.kind == TV_GEN) return te_fail(r, ERR_TEMPLATE, "'%s' object is not reversible", tv_type_name(in));
    tval_t l;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    if (tv_l(l)->n) {
        *out = tv_l(l)->v[tv_l(l)->n - 1];
        tv_retain(*out);
    } else {
        rc = tv_undef_msg(r, "No last item, sequence was empty.", out);
    }
    tv_release(l);
    return rc;
}

static int f_join(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("join", "d", "attribute");
    tval_t l, sep = tv_undef();
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    if (given[0]) rc = tv_to_str(r, arg[0], &sep);
    tbuf_t b = {0};
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        if (i && sep.kind == TV_STR) rc = tb_put(r, &b, tv_s(sep)->s, tv_s(sep)->len);
        tval_t item = tv_l(l)->v[i], v;
        if (!rc && given[1]) {
            if (!(rc = attr_key(r, item, arg[1], false, tv_undef(), &v))) {
                rc = tv_write_str(r, &b, v);
                tv_release(v);
            }
        } else if (!rc) {
            rc = tv_write_str(r, &b, item);
        }
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    tv_release(sep);
    tv_release(l);
    return rc;
}

static int f_items(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t l;
    int rc;
    if (in.kind == TV_UNDEF) {
        if ((rc = tv_list_new(r, 0, false, &l))) return rc;
        return to_gen(r, l, "generator", out);
    }
    if (in.kind != TV_DICT) return te_fail(r, ERR_TEMPLATE, "Can only get item pairs from a mapping.");
    tdict_t *d = tv_d(in);
    if ((rc = tv_list_new(r, d->n, false, &l))) return rc;
    for (size_t i = 0; !rc && i < d->n; i++) {
        tval_t pair;
        if (!(rc = tv_list_new(r, 2, true, &pair))) {
            tv_retain(d->k[i]);
            tv_retain(d->v[i]);
            tv_l(pair)->v[0] = d->k[i];
            tv_l(pair)->v[1] = d->v[i];
            tv_l(pair)->n = 2;
            rc = tv_list_push(r, tv_l(l), pair);
        }
    }
    if (rc) {
        tv_release(l);
        return rc;
    }
    return to_gen(r, l, "generator", out);
}

static int f_reverse(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    if (in.kind == TV_STR) {
        tval_t none = tv_none();
        return to_slice(r, in, none, none, tv_int(-1), out);
    }
    tval_t l;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    for (size_t i = 0; i < lst->n / 2; i++) {
        tval_t t = lst->v[i];
        lst->v[i] = lst->v[lst->n - 1 - i];
        lst->v[lst->n - 1 - i] = t;
    }
    if (in.kind == TV_GEN) {
        *out = l;
        return 0;
    }
    const char *type = in.kind == TV_DICT                      ? "dict_reversekeyiterator"
                       : in.kind == TV_UNDEF                   ? "reversed"
                       : in.kind == TV_LIST && tv_l(in)->tuple ? "reversed"
                                                               : "list_reverseiterator";
    return to_gen(r, l, type, out);
}

/* map(filter_name, *args, **kwargs) or map(attribute=..., default=...). */
static int f_map(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t l, res;
    int rc = tv_truthy(in) ? te_to_list(r, in, &l) : tv_list_new(r, 0, false, &l); /* Jinja: `if value:` */
    if (rc) return rc;
    tval_t attr = tv_undef(), def = tv_undef();
    int fid = -1;
    targs_t rest = {0};
    if (a->npos == 0) {
        for (size_t i = 0; i < a->nkw; i++) {
            if (!strcmp(a->kwn[i], "attribute"))
                attr = a->kwv[i];
            else if (!strcmp(a->kwn[i], "default"))
                def = a->kwv[i];
            else
                rc = te_fail(r, ERR_TEMPLATE, "Unexpected keyword argument '%s'", a->kwn[i]);
        }
        if (!rc && attr.kind == TV_UNDEF) rc = te_fail(r, ERR_TEMPLATE, "map requires a filter argument");
    } else {
        if (a->pos[0].kind != TV_STR)
            rc = te_fail(r, ERR_TEMPLATE, "map filter name must be a string");
        else if ((fid = tf_filter_id(tv_s(a->pos[0])->s)) < 0)
            rc = te_fail(r, ERR_TEMPLATE, "No filter named '%s'.", tv_s(a->pos[0])->s);
        rest = (targs_t){.pos = a->pos + 1, .npos = a->npos - 1, .kwn = a->kwn, .kwv = a->kwv, .nkw = a->nkw};
    }
    if (!rc) rc = tv_list_new(r, tv_l(l)->n, false, &res);
    if (rc) {
        tv_release(l);
        return rc;
    }
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        tval_t v;
        if (fid >= 0)
            rc = tf_apply(r, fid, tv_l(l)->v[i], &rest, &v);
        else
            rc = attr_key(r, tv_l(l)->v[i], attr, false, def, &v);
        if (!rc) rc = tv_list_push(r, tv_l(res), v);
    }
    tv_release(l);
    if (rc) {
        tv_release(res);
        return rc;
    }
    return to_gen(r, res, "generator", out);
}

/* select/reject/selectattr/rejectattr: keep items whose test (or truthiness) equals `want`. */
static int select_impl(trender_t *r, tval_t in, const targs_t *a, bool by_attr, bool want, tval_t *out) {
    tval_t l, res;
    int rc = tv_truthy(in) ? te_to_list(r, in, &l) : tv_list_new(r, 0, false, &l); /* Jinja: `if value:` */
    if (rc) return rc;
    size_t off = by_attr ? 1 : 0;
    if (by_attr && a->npos < 1) rc = te_fail(r, ERR_TEMPLATE, "Missing parameter for attribute name");
    int tid = -1;
    if (!rc && a->npos > off) {
        if (a->pos[off].kind != TV_STR)
            rc = te_fail(r, ERR_TEMPLATE, "test name must be a string");
        else if ((tid = tt_test_id(tv_s(a->pos[off])->s)) < 0)
            rc = te_fail(r, ERR_TEMPLATE, "No test named '%s'.", tv_s(a->pos[off])->s);
    }
    targs_t rest = {0};
    if (tid >= 0)
        rest =
            (targs_t){.pos = a->pos + off + 1, .npos = a->npos - off - 1, .kwn = a->kwn, .kwv = a->kwv, .nkw = a->nkw};
    if (!rc) rc = tv_list_new(r, 0, false, &res);
    if (rc) {
        tv_release(l);
        return rc;
    }
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        tval_t item = tv_l(l)->v[i], v;
        if ((rc = te_step(r))) break;
        if (by_attr)
            rc = te_getattr_path(r, item, a->pos[0], &v);
        else
            tv_retain(item), v = item;
        if (rc) break;
        bool ok;
        if (tid >= 0)
            rc = tt_apply(r, tid, v, &rest, &ok);
        else
            ok = tv_truthy(v);
        tv_release(v);
        if (!rc && ok == want) {
            tv_retain(item);
            rc = tv_list_push(r, tv_l(res), item);
        }
    }
    tv_release(l);
    if (rc) {
        tv_release(res);
        return rc;
    }
    return to_gen(r, res, "generator", out);
}

static int f_select(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return select_impl(r, in, a, false, true, out);
}
static int f_reject(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return select_impl(r, in, a, false, false, out);
}
static int f_selectattr(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return select_impl(r, in, a, true, true, out);
}
static int f_rejectattr(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return select_impl(r, in, a, true, false, out);
}

/* Builds keys for every item of list l (attribute path, ignore_case unless case_sensitive). */
static int make_keys(trender_t *r, tlist_t *l, tval_t attr, bool lower, bool multi, tval_t *keys) {
    for (size_t i = 0; i < l->n; i++)
        keys[i] = tv_undef();
    for (size_t i = 0; i < l->n; i++) {
        int rc = multi ? multi_key(r, l->v[i], attr, lower, &keys[i])
                       : attr_key(r, l->v[i], attr, lower, tv_undef(), &keys[i]);
        if (rc) return rc;
    }
    return 0;
}

static void free_keys(tval_t *keys, size_t n) {
    if (!keys) return;
    for (size_t i = 0; i < n; i++)
        tv_release(keys[i]);
    free(keys);
}

static int alloc_keys(trender_t *r, size_t n, tval_t **keys) {
    if (te_charge(r, (n + 1) * sizeof(tval_t))) return r->rc;
    *keys = calloc(n + 1, sizeof(tval_t));
    return *keys ? 0 : te_fail(r, ERR_NOMEM, "out of memory");
}

static int f_sort(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("sort", "reverse", "case_sensitive", "attribute");
    tval_t l, *keys = NULL;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    bool lower = !(given[1] && tv_truthy(arg[1]));
    if (!(rc = alloc_keys(r, lst->n, &keys)) &&
        !(rc = make_keys(r, lst, given[2] ? arg[2] : tv_undef(), lower, true, keys)))
        rc = tf_sort_values(r, lst->v, keys, lst->n, given[0] && tv_truthy(arg[0]));
    free_keys(keys, lst->n);
    if (rc) {
        tv_release(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int f_dictsort(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("dictsort", "case_sensitive", "by", "reverse");
    int pos = 0;
    if (given[1]) {
        if (arg[1].kind == TV_STR && !strcmp(tv_s(arg[1])->s, "value"))
            pos = 1;
        else if (!(arg[1].kind == TV_STR && !strcmp(tv_s(arg[1])->s, "key")))
            return te_fail(r, ERR_TEMPLATE, "You can only sort by either \"key\" or \"value\"");
    }
    if (in.kind == TV_UNDEF) return tv_undef_fail(r, in);
    if (in.kind != TV_DICT) return te_fail(r, ERR_TEMPLATE, "'%s' object has no attribute 'items'", tv_type_name(in));
    tval_t items, l, *keys = NULL;
    targs_t none = {0};
    int rc = f_items(r, in, &none, &items);
    if (rc) return rc;
    rc = te_to_list(r, items, &l);
    tv_release(items);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    bool lower = !(given[0] && tv_truthy(arg[0]));
    if (!(rc = alloc_keys(r, lst->n, &keys))) {
        for (size_t i = 0; !rc && i < lst->n; i++) {
            tval_t part = tv_l(lst->v[i])->v[pos];
            if (lower)
                rc = tf_ignore_case(r, part, &keys[i]);
            else
                tv_retain(part), keys[i] = part;
        }
        if (!rc) rc = tf_sort_values(r, lst->v, keys, lst->n, given[2] && tv_truthy(arg[2]));
    }
    free_keys(keys, lst->n);
    if (rc) {
        tv_release(l);
        return rc;
    }
    *out = l;
    return 0;
}

static int f_unique(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("unique", "case_sensitive", "attribute");
    tval_t l, res, *keys = NULL;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    bool lower = !(given[0] && tv_truthy(arg[0]));
    if (!(rc = alloc_keys(r, lst->n, &keys)))
        rc = make_keys(r, lst, given[1] ? arg[1] : tv_undef(), lower, false, keys);
    if (!rc) rc = tv_list_new(r, 0, false, &res);
    for (size_t i = 0; !rc && i < lst->n; i++) {
        if (keys[i].kind == TV_DICT || (keys[i].kind == TV_LIST && !tv_l(keys[i])->tuple)) {
            rc = te_fail(r, ERR_TEMPLATE, "unhashable type: '%s'", tv_type_name(keys[i]));
            tv_release(res);
            break;
        }
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = tv_eq(keys[j], keys[i]);
        if (!seen) {
            tv_retain(lst->v[i]);
            rc = tv_list_push(r, tv_l(res), lst->v[i]);
            if (rc) tv_release(res);
        }
    }
    free_keys(keys, lst->n);
    tv_release(l);
    if (rc) return rc;
    return to_gen(r, res, "generator", out);
}

static int minmax(trender_t *r, tval_t in, const targs_t *a, bool is_max, tval_t *out) {
    BIND(is_max ? "max" : "min", "case_sensitive", "attribute");
    tval_t l, *keys = NULL;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    if (lst->n == 0) {
        tv_release(l);
        return tv_undef_msg(r, "No aggregated item, sequence was empty.", out);
    }
    bool lower = !(given[0] && tv_truthy(arg[0]));
    size_t best = 0;
    if (!(rc = alloc_keys(r, lst->n, &keys)) &&
        !(rc = make_keys(r, lst, given[1] ? arg[1] : tv_undef(), lower, false, keys))) {
        for (size_t i = 1; !rc && i < lst->n; i++) {
            int c;
            if (!(rc = tv_cmp(r, keys[i], keys[best], &c)) && (is_max ? c > 0 : c < 0)) best = i;
        }
    }
    if (!rc) {
        *out = lst->v[best];
        tv_retain(*out);
    }
    free_keys(keys, lst->n);
    tv_release(l);
    return rc;
}

static int f_max(trender_t *r, tval_t in, const targs_t *a, tval_t *out) { return minmax(r, in, a, true, out); }
static int f_min(trender_t *r, tval_t in, const targs_t *a, tval_t *out) { return minmax(r, in, a, false, out); }

static int f_sum(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("sum", "attribute", "start");
    tval_t l, acc = given[1] ? arg[1] : tv_int(0);
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tv_retain(acc);
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        tval_t v, next;
        if ((rc = attr_key(r, tv_l(l)->v[i], given[0] ? arg[0] : tv_undef(), false, tv_undef(), &v))) break;
        rc = to_binop(r, OP_ADD, acc, v, &next);
        tv_release(v);
        if (!rc) {
            tv_release(acc);
            acc = next;
        }
    }
    tv_release(l);
    if (rc) {
        tv_release(acc);
        return rc;
    }
    *out = acc;
    return 0;
}

static int f_groupby(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("groupby", "attribute", "default", "case_sensitive");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "groupby() missing required argument 'attribute'");
    tval_t l, *keys = NULL, res = tv_undef();
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    tlist_t *lst = tv_l(l);
    bool lower = !(given[2] && tv_truthy(arg[2]));
    tval_t def = given[1] ? arg[1] : tv_undef();
    if (!(rc = alloc_keys(r, lst->n, &keys))) {
        for (size_t i = 0; !rc && i < lst->n; i++)
            rc = attr_key(r, lst->v[i], arg[0], lower, def, &keys[i]);
    }
    if (!rc) rc = tf_sort_values(r, lst->v, keys, lst->n, false);
    if (!rc) rc = tv_list_new(r, 0, false, &res);
    for (size_t i = 0; !rc && i < lst->n;) {
        size_t j = i;
        tval_t group, grouper, pair;
        if ((rc = tv_list_new(r, 0, false, &group))) break;
        while (!rc && j < lst->n && tv_eq(keys[j], keys[i])) {
            tv_retain(lst->v[j]);
            rc = tv_list_push(r, tv_l(group), lst->v[j++]);
        }
        if (!rc) rc = attr_key(r, lst->v[i], arg[0], false, def, &grouper);
        if (rc) {
            tv_release(group);
            break;
        }
        if ((rc = tv_list_new(r, 2, true, &pair))) {
            tv_release(group);
            tv_release(grouper);
            break;
        }
        tv_l(pair)->v[0] = grouper;
        tv_l(pair)->v[1] = group;
        tv_l(pair)->n = 2;
        tv_l(pair)->group = 1; /* a _GroupTuple: also has .grouper and .list */
        rc = tv_list_push(r, tv_l(res), pair);
        i = j;
    }
    free_keys(keys, lst->n);
    tv_release(l);
    if (rc) {
        tv_release(res);
        return rc;
    }
    *out = res;
    return 0;
}

static int f_batch(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("batch", "linecount", "fill_with");
    if (!given[0] || !tv_is_intlike(arg[0]) || arg[0].u.i < 1)
        return te_fail(r, ERR_TEMPLATE, "batch() needs a positive integer linecount");
    size_t per = (size_t)arg[0].u.i;
    tval_t l, res, cur = tv_undef();
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    if ((rc = tv_list_new(r, 0, false, &res))) {
        tv_release(l);
        return rc;
    }
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        if (cur.kind == TV_UNDEF && (rc = tv_list_new(r, 0, false, &cur))) break;
        tv_retain(tv_l(l)->v[i]);
        if ((rc = tv_list_push(r, tv_l(cur), tv_l(l)->v[i]))) break;
        if (tv_l(cur)->n == per) {
            rc = tv_list_push(r, tv_l(res), cur);
            cur = tv_undef();
        }
    }
    if (!rc && cur.kind != TV_UNDEF) {
        while (!rc && given[1] && arg[1].kind != TV_NONE && tv_l(cur)->n < per) {
            tv_retain(arg[1]);
            rc = tv_list_push(r, tv_l(cur), arg[1]);
        }
        if (!rc)
            rc = tv_list_push(r, tv_l(res), cur);
        else
            tv_release(cur);
        cur = tv_undef();
    }
    tv_release(cur);
    tv_release(l);
    if (rc) {
        tv_release(res);
        return rc;
    }
    return to_gen(r, res, "generator", out);
}

static int f_slice(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("slice", "slices", "fill_with");
    if (!given[0] || !tv_is_intlike(arg[0]) || arg[0].u.i < 1 || arg[0].u.i > 100000)
        return te_fail(r, ERR_TEMPLATE, "slice() needs a positive integer number of slices");
    size_t slices = (size_t)arg[0].u.i;
    tval_t l, res;
    int rc = te_to_list(r, in, &l);
    if (rc) return rc;
    size_t n = tv_l(l)->n, per = n / slices, extra = n % slices, offset = 0;
    if ((rc = tv_list_new(r, slices, false, &res))) {
        tv_release(l);
        return rc;
    }
    for (size_t s = 0; !rc && s < slices; s++) {
        size_t start = offset + s * per;
        if (s < extra) offset++;
        size_t end = offset + (s + 1) * per;
        tval_t part;
        if ((rc = tv_list_new(r, end - start + 1, false, &part))) break;
        for (size_t i = start; !rc && i < end; i++) {
            tv_retain(tv_l(l)->v[i]);
            rc = tv_list_push(r, tv_l(part), tv_l(l)->v[i]);
        }
        if (!rc && given[1] && arg[1].kind != TV_NONE && s >= extra) {
            tv_retain(arg[1]);
            rc = tv_list_push(r, tv_l(part), arg[1]);
        }
        if (!rc)
            rc = tv_list_push(r, tv_l(res), part);
        else
            tv_release(part);
    }
    tv_release(l);
    if (rc) {
        tv_release(res);
        return rc;
    }
    return to_gen(r, res, "generator", out);
}

const tf_entry_t tf_seq_filters[] = {
    {"batch", f_batch},     {"count", f_length},    {"dictsort", f_dictsort},
    {"first", f_first},     {"groupby", f_groupby}, {"items", f_items},
    {"join", f_join},       {"last", f_last},       {"length", f_length},
    {"list", f_list},       {"map", f_map},         {"max", f_max},
    {"min", f_min},         {"reject", f_reject},   {"rejectattr", f_rejectattr},
    {"reverse", f_reverse}, {"select", f_select},   {"selectattr", f_selectattr},
    {"slice", f_slice},     {"sort", f_sort},       {"sum", f_sum},
    {"unique", f_unique},
};
const size_t tf_n_seq_filters = sizeof(tf_seq_filters) / sizeof(tf_seq_filters[0]);
