/*
 * ops.c — Python operators on template values: arithmetic, concatenation, comparison, membership,
 * subscription, slicing and Markup escaping.
 *
 * Owns: to_* from eval.h except the string formatting ones (format.c). Integers are 64-bit: where Python would grow a
 * big integer, these fail with an "integer overflow" error instead. Markup strings (|safe, |e) follow markupsafe:
 * `Markup + str` escapes the plain operand and stays Markup; `~` always yields a plain str (autoescape is off, as in
 * Hugging Face's environment).
 *
 * Single-threaded per render.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

static int unsupported(trender_t *r, const char *op, tval_t a, tval_t b) {
    return te_fail(r, ERR_TEMPLATE, "unsupported operand type(s) for %s: '%s' and '%s'", op, tv_type_name(a),
                   tv_type_name(b));
}

static int overflow(trender_t *r) { return te_fail(r, ERR_TEMPLATE, "integer overflow"); }

int to_escape(trender_t *r, tval_t v, tval_t *out) {
    *out = tv_undef();
    if (v.kind == TV_STR && v.safe) {
        tv_retain(v);
        *out = v;
        return 0;
    }
    tval_t s;
    int rc = tv_to_str(r, v, &s);
    if (rc) return rc;
    tbuf_t b = {0};
    const char *p = tv_s(s)->s;
    size_t n = tv_s(s)->len, start = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *rep = NULL;
        switch (p[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        rc = tb_put(r, &b, p + start, i - start);
        if (!rc) rc = tb_puts(r, &b, rep);
        start = i + 1;
    }
    if (!rc) rc = tb_put(r, &b, p + start, n - start);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    tv_release(s);
    if (!rc) out->safe = 1;
    return rc;
}

/* Concatenates the strings a and b; when either is Markup, the other is escaped and the result is Markup. */
static int str_add(trender_t *r, tval_t a, tval_t b, bool plain, tval_t *out) {
    tval_t x = a, y = b;
    int rc = 0;
    bool safe = !plain && (a.safe || b.safe);
    if (safe && !a.safe)
        rc = to_escape(r, a, &x);
    else
        tv_retain(x);
    if (rc) return rc;
    if (safe && !b.safe)
        rc = to_escape(r, b, &y);
    else
        tv_retain(y);
    if (rc) {
        tv_release(x);
        return rc;
    }
    tbuf_t buf = {0};
    rc = tb_put(r, &buf, tv_s(x)->s, tv_s(x)->len);
    if (!rc) rc = tb_put(r, &buf, tv_s(y)->s, tv_s(y)->len);
    if (!rc) rc = tb_finish(r, &buf, out);
    tb_free(&buf);
    tv_release(x);
    tv_release(y);
    if (!rc) out->safe = safe;
    return rc;
}

static int repeat(trender_t *r, tval_t seq, int64_t times, tval_t *out) {
    if (times < 0) times = 0;
    if (seq.kind == TV_STR) {
        tstr_t *s = tv_s(seq);
        if (s->len && (uint64_t)times > r->max_str / s->len) return te_fail(r, ERR_LIMIT, "repeated string too long");
        tbuf_t b = {0};
        int rc = 0;
        for (int64_t i = 0; i < times && !rc; i++)
            rc = tb_put(r, &b, s->s, s->len);
        if (!rc) rc = tb_finish(r, &b, out);
        tb_free(&b);
        if (!rc) out->safe = seq.safe;
        return rc;
    }
    tlist_t *l = tv_l(seq);
    if (l->n && (uint64_t)times > r->max_str / sizeof(tval_t) / l->n)
        return te_fail(r, ERR_LIMIT, "repeated list too long");
    int rc = tv_list_new(r, l->n * (size_t)times, l->tuple, out);
    for (int64_t i = 0; i < times && !rc; i++)
        for (size_t j = 0; j < l->n && !rc; j++) {
            tv_retain(l->v[j]);
            rc = tv_list_push(r, tv_l(*out), l->v[j]);
        }
    return rc;
}

static double py_fmod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

static int arith(trender_t *r, int op, tval_t a, tval_t b, tval_t *out) {
    static const char *const names[] = {[OP_ADD] = "+",       [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
                                        [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**"};
    if (!tv_is_num(a) || !tv_is_num(b)) return unsupported(r, names[op], a, b);
    bool ints = a.kind != TV_FLOAT && b.kind != TV_FLOAT;
    int64_t x = a.u.i, y = b.u.i, z;
    double fx = tv_num(a), fy = tv_num(b);
    switch (op) {
    case OP_ADD:
        if (!ints) break;
        if (__builtin_add_overflow(x, y, &z)) return overflow(r);
        *out = tv_int(z);
        return 0;
    case OP_SUB:
        if (!ints) break;
        if (__builtin_sub_overflow(x, y, &z)) return overflow(r);
        *out = tv_int(z);
        return 0;
    case OP_MUL:
        if (!ints) break;
        if (__builtin_mul_overflow(x, y, &z)) return overflow(r);
        *out = tv_int(z);
        return 0;
    case OP_DIV:
        if (fy == 0) return te_fail(r, ERR_TEMPLATE, "division by zero");
        *out = tv_float(fx / fy);
        return 0;
    case OP_FLOORDIV:
    case OP_MOD:
        if (ints) {
            if (y == 0)
                return te_fail(r, ERR_TEMPLATE,
                               op == OP_MOD ? "integer modulo by zero" : "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) return overflow(r);
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q -= 1;
                m += y;
            }
            *out = tv_int(op == OP_MOD ? m : q);
            return 0;
        }
        if (fy == 0) return te_fail(r, ERR_TEMPLATE, "float modulo");
        *out = tv_float(op == OP_MOD ? py_fmod(fx, fy) : floor(fx / fy));
        return 0;
    case OP_POW:
        if (ints && y >= 0) {
            int64_t acc = 1, base = x;
            for (int64_t e = y; e > 0; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) return overflow(r);
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) return overflow(r);
            }
            *out = tv_int(acc);
            return 0;
        }
        if (fx == 0 && fy < 0) return te_fail(r, ERR_TEMPLATE, "0.0 cannot be raised to a negative power");
        *out = tv_float(pow(fx, fy));
        return 0;
    default: return unsupported(r, "?", a, b);
    }
    switch (op) {
    case OP_ADD: *out = tv_float(fx + fy); break;
    case OP_SUB: *out = tv_float(fx - fy); break;
    default: *out = tv_float(fx * fy); break;
    }
    return 0;
}

int to_contains(trender_t *r, tval_t c, tval_t item, bool *res) {
    *res = false;
    switch (c.kind) {
    case TV_UNDEF: return 0;
    case TV_STR:
        if (item.kind != TV_STR)
            return te_fail(r, ERR_TEMPLATE, "'in <string>' requires string as left operand, not %s",
                           tv_type_name(item));
        *res = tv_s(item)->len == 0 || memmem(tv_s(c)->s, tv_s(c)->len, tv_s(item)->s, tv_s(item)->len) != NULL;
        return 0;
    case TV_LIST:
        for (size_t i = 0; i < tv_l(c)->n && !*res; i++)
            *res = tv_eq(tv_l(c)->v[i], item);
        return 0;
    case TV_DICT:
        if (item.kind == TV_DICT || (item.kind == TV_LIST && !tv_l(item)->tuple))
            return te_fail(r, ERR_TEMPLATE, "unhashable type: '%s'", tv_type_name(item));
        *res = tv_dict_get(tv_d(c), item) != NULL;
        return 0;
    case TV_GEN: {
        tgen_t *g = (tgen_t *)c.u.o;
        while (g->pos < g->items->n && !*res)
            *res = tv_eq(g->items->v[g->pos++], item);
        return 0;
    }
    default: return te_fail(r, ERR_TEMPLATE, "argument of type '%s' is not iterable", tv_type_name(c));
    }
}

int to_binop(trender_t *r, int op, tval_t a, tval_t b, tval_t *out) {
    *out = tv_undef();
    int rc, c;
    bool in;
    switch (op) {
    case OP_TILDE: {
        tval_t x, y;
        if ((rc = tv_to_str(r, a, &x))) return rc;
        if ((rc = tv_to_str(r, b, &y))) {
            tv_release(x);
            return rc;
        }
        rc = str_add(r, x, y, true, out);
        tv_release(x);
        tv_release(y);
        return rc;
    }
    case OP_EQ: *out = tv_bool(tv_eq(a, b)); return 0;
    case OP_NE: *out = tv_bool(!tv_eq(a, b)); return 0;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if ((rc = tv_cmp(r, a, b, &c))) return rc;
        *out = tv_bool(op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0);
        return 0;
    case OP_IN:
    case OP_NOTIN:
        if ((rc = to_contains(r, b, a, &in))) return rc;
        *out = tv_bool(op == OP_IN ? in : !in);
        return 0;
    default: break;
    }
    if (a.kind == TV_UNDEF) return tv_undef_fail(r, a);
    if (b.kind == TV_UNDEF) return tv_undef_fail(r, b);
    if (op == OP_ADD) {
        if (a.kind == TV_STR && b.kind == TV_STR) return str_add(r, a, b, false, out);
        if (a.kind == TV_LIST && b.kind == TV_LIST && tv_l(a)->tuple == tv_l(b)->tuple && !tv_l(a)->view &&
            !tv_l(b)->view) {
            tlist_t *x = tv_l(a), *y = tv_l(b);
            if ((rc = tv_list_new(r, x->n + y->n, x->tuple, out))) return rc;
            for (size_t i = 0; i < x->n + y->n; i++) {
                tval_t v = i < x->n ? x->v[i] : y->v[i - x->n];
                tv_retain(v);
                tv_l(*out)->v[i] = v;
            }
            tv_l(*out)->n = x->n + y->n;
            return 0;
        }
        if (a.kind == TV_LIST && tv_l(a)->view) return unsupported(r, "+", a, b);
        if ((a.kind == TV_STR || a.kind == TV_LIST) && !tv_is_num(b))
            return te_fail(r, ERR_TEMPLATE, "can only concatenate %s (not \"%s\") to %s", tv_type_name(a),
                           tv_type_name(b), tv_type_name(a));
        if (a.kind == TV_STR || a.kind == TV_LIST) {
            if (a.kind == TV_STR)
                return te_fail(r, ERR_TEMPLATE, "can only concatenate str (not \"%s\") to str", tv_type_name(b));
            return te_fail(r, ERR_TEMPLATE, "can only concatenate list (not \"%s\") to list", tv_type_name(b));
        }
    }
    if (op == OP_MUL) {
        if ((a.kind == TV_STR || (a.kind == TV_LIST && !tv_l(a)->view)) && tv_is_intlike(b))
            return repeat(r, a, b.u.i, out);
        if ((b.kind == TV_STR || (b.kind == TV_LIST && !tv_l(b)->view)) && tv_is_intlike(a))
            return repeat(r, b, a.u.i, out);
    }
    if (op == OP_MOD && a.kind == TV_STR) return to_percent_format(r, a, b, out);
    return arith(r, op, a, b, out);
}

int to_unary(trender_t *r, int op, tval_t a, tval_t *out) {
    *out = tv_undef();
    if (a.kind == TV_UNDEF) return tv_undef_fail(r, a);
    if (!tv_is_num(a))
        return te_fail(r, ERR_TEMPLATE, "bad operand type for unary %s: '%s'", op == OP_SUB ? "-" : "+",
                       tv_type_name(a));
    if (op == OP_ADD) {
        *out = a.kind == TV_BOOL ? tv_int(a.u.i) : a;
        return 0;
    }
    if (a.kind == TV_FLOAT)
        *out = tv_float(-a.u.f);
    else if (a.u.i == INT64_MIN)
        return overflow(r);
    else
        *out = tv_int(-a.u.i);
    return 0;
}

/* Byte offsets of each code point of s plus the end; NULL for pure ASCII (offset == index). */
static int cp_offsets(trender_t *r, const tstr_t *s, size_t **offs, size_t *count) {
    *offs = NULL;
    size_t i = 0;
    while (i < s->len && (unsigned char)s->s[i] < 0x80)
        i++;
    if (i == s->len) {
        *count = s->len;
        return 0;
    }
    size_t n = tu_len(s->s, s->len);
    if (te_charge(r, (n + 1) * sizeof(size_t))) return r->rc;
    size_t *o = malloc((n + 1) * sizeof(size_t));
    if (!o) return te_fail(r, ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (i = 0; i < s->len;) {
        o[k++] = i;
        tu_decode(s->s, s->len, &i);
    }
    o[k] = s->len;
    *offs = o;
    *count = n;
    return 0;
}

int to_subscript(trender_t *r, tval_t obj, tval_t key, tval_t *out, bool *found) {
    *found = false;
    if (obj.kind == TV_DICT) {
        if (key.kind == TV_DICT || (key.kind == TV_LIST && !tv_l(key)->tuple)) return 0; /* unhashable */
        tval_t *v = tv_dict_get(tv_d(obj), key);
        if (v) {
            tv_retain(*v);
            *out = *v;
            *found = true;
        }
        return 0;
    }
    if (!tv_is_intlike(key)) return 0;
    int64_t idx = key.u.i;
    if (obj.kind == TV_LIST && tv_l(obj)->view) return 0; /* dict views are not subscriptable */
    if (obj.kind == TV_LIST) {
        tlist_t *l = tv_l(obj);
        if (idx < 0) idx += (int64_t)l->n;
        if (idx < 0 || (uint64_t)idx >= l->n) return 0;
        tv_retain(l->v[idx]);
        *out = l->v[idx];
        *found = true;
        return 0;
    }
    if (obj.kind == TV_STR) {
        tstr_t *s = tv_s(obj);
        size_t *offs, n;
        int rc = cp_offsets(r, s, &offs, &n);
        if (rc) return rc;
        if (idx < 0) idx += (int64_t)n;
        if (idx >= 0 && (uint64_t)idx < n) {
            size_t b = offs ? offs[idx] : (size_t)idx, e = offs ? offs[idx + 1] : (size_t)idx + 1;
            rc = tv_str_new(r, s->s + b, e - b, out);
            *found = rc == 0;
        }
        free(offs);
        return rc;
    }
    return 0;
}

/* Python's slice.indices(): clamps start/stop for a sequence of length n. */
static int slice_bound(trender_t *r, tval_t v, int64_t n, int64_t step, bool is_start, int64_t *res) {
    int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? n - 1 : n;
    if (v.kind == TV_NONE || v.kind == TV_UNDEF) {
        *res = is_start ? (step < 0 ? upper : lower) : (step < 0 ? lower : upper);
        return 0;
    }
    if (!tv_is_intlike(v))
        return te_fail(r, ERR_TEMPLATE, "slice indices must be integers or None or have an __index__ method");
    int64_t x = v.u.i;
    if (x < 0) {
        x = x < -n ? lower : x + n;
        if (x < lower) x = lower;
    } else if (x > upper) {
        x = upper;
    }
    *res = x;
    return 0;
}

int to_slice(trender_t *r, tval_t obj, tval_t start, tval_t stop, tval_t step, tval_t *out) {
    *out = tv_undef();
    if (obj.kind == TV_UNDEF) return tv_undef_fail(r, obj);
    if (obj.kind == TV_DICT) return te_fail(r, ERR_TEMPLATE, "unhashable type: 'slice'");
    if (obj.kind == TV_LIST && tv_l(obj)->view)
        return te_fail(r, ERR_TEMPLATE, "'%s' object is not subscriptable", tv_type_name(obj));
    if (obj.kind != TV_STR && obj.kind != TV_LIST) return tv_undef_msg(r, "this object cannot be sliced", out);
    int64_t st = 1;
    if (step.kind != TV_NONE && step.kind != TV_UNDEF) {
        if (!tv_is_intlike(step))
            return te_fail(r, ERR_TEMPLATE, "slice indices must be integers or None or have an __index__ method");
        st = step.u.i;
        if (st == 0) return te_fail(r, ERR_TEMPLATE, "slice step cannot be zero");
        if (st == INT64_MIN) st = -INT64_MAX;
    }
    size_t *offs = NULL, n;
    int rc;
    if (obj.kind == TV_STR) {
        if ((rc = cp_offsets(r, tv_s(obj), &offs, &n))) return rc;
    } else {
        n = tv_l(obj)->n;
    }
    int64_t b, e;
    rc = slice_bound(r, start, (int64_t)n, st, true, &b);
    if (!rc) rc = slice_bound(r, stop, (int64_t)n, st, false, &e);
    if (!rc && obj.kind == TV_STR) {
        tstr_t *s = tv_s(obj);
        tbuf_t buf = {0};
        if (st == 1 && b < e) {
            size_t bb = offs ? offs[b] : (size_t)b, ee = offs ? offs[e] : (size_t)e;
            rc = tb_put(r, &buf, s->s + bb, ee - bb);
        } else {
            for (int64_t i = b; !rc && (st > 0 ? i < e : i > e); i += st) {
                size_t bb = offs ? offs[i] : (size_t)i, ee = offs ? offs[i + 1] : (size_t)i + 1;
                rc = tb_put(r, &buf, s->s + bb, ee - bb);
                if (st > 0 ? i > INT64_MAX - st : i < INT64_MIN - st) break;
            }
        }
        if (!rc) rc = tb_finish(r, &buf, out);
        tb_free(&buf);
        if (!rc) out->safe = obj.safe;
    } else if (!rc) {
        tlist_t *l = tv_l(obj);
        rc = tv_list_new(r, 0, l->tuple, out);
        for (int64_t i = b; !rc && (st > 0 ? i < e : i > e); i += st) {
            tv_retain(l->v[i]);
            rc = tv_list_push(r, tv_l(*out), l->v[i]);
            if (st > 0 ? i > INT64_MAX - st : i < INT64_MIN - st) break;
        }
    }
    free(offs);
    return rc;
}
