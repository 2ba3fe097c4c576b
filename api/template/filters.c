/*
 * filters.c — Jinja2's builtin filters on strings and numbers, the filter table, and Hugging Face's tojson.
 *
 * Owns: tf_filter_id/tf_apply, the filters abs, attr, capitalize, center, default/d, escape/e, forceescape,
 * filesizeformat, float, format, indent, int, lower, pprint, replace, round, safe, string, striptags, title,
 * tojson, trim, truncate, upper, urlencode, wordcount. Sequence filters live in filters_seq.c.
 * Does not own: the Python str methods several filters reuse (methods.c).
 *
 * Each filter follows Jinja 3.1's implementation, including its quirks (title() splits words only at
 * whitespace and brackets; |int falls back to int(float(x)); |indent requires a string). Single-threaded per
 * render.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

/* str(v), keeping a string (and its Markup flag) as it is: Jinja's soft_str. */
static int soft_str(trender_t *r, tval_t v, tval_t *out) { return tv_to_str(r, v, out); }

/* A plain (non-Markup) str(v). */
static int plain_str(trender_t *r, tval_t v, tval_t *out) {
    int rc = tv_to_str(r, v, out);
    if (!rc && out->safe) {
        tval_t s;
        rc = tv_str_new(r, tv_s(*out)->s, tv_s(*out)->len, &s);
        tv_release(*out);
        *out = rc ? tv_undef() : s;
    }
    return rc;
}

/* Calls the str method `name` on soft_str(v) (or a plain str when plain) with nargs positional arguments. */
static int str_method(trender_t *r, tval_t v, bool plain, const char *name, const tval_t *args, size_t nargs,
                      tval_t *out) {
    tval_t s;
    int rc = plain ? plain_str(r, v, &s) : soft_str(r, v, &s);
    if (rc) return rc;
    targs_t a = {.pos = args, .npos = nargs};
    rc = tm_call(r, s, name, &a, out);
    tv_release(s);
    return rc;
}

#define BIND(fname, ...)                                                                                               \
    static const char *const names_[] = {__VA_ARGS__};                                                                 \
    enum { N_ = sizeof(names_) / sizeof(names_[0]) };                                                                  \
    tval_t arg[N_];                                                                                                    \
    bool given[N_];                                                                                                    \
    int rc_ = te_bind(r, a, fname, names_, N_, arg, given);                                                            \
    if (rc_) return rc_

static int f_abs(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    if (a->npos || a->nkw) return te_fail(r, ERR_TEMPLATE, "abs() takes no arguments");
    if (!tv_is_num(in)) return te_fail(r, ERR_TEMPLATE, "bad operand type for abs(): '%s'", tv_type_name(in));
    if (in.kind == TV_FLOAT)
        *out = tv_float(fabs(in.u.f));
    else if (in.u.i == INT64_MIN)
        return te_fail(r, ERR_TEMPLATE, "integer overflow");
    else
        *out = tv_int(in.u.i < 0 ? -in.u.i : in.u.i);
    return 0;
}

static int f_attr(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("attr", "name");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "attr() missing required argument 'name'");
    tval_t name;
    int rc = plain_str(r, arg[0], &name);
    if (rc) return rc;
    bool unsafe;
    if (in.kind == TV_DICT && !tm_has_method(in, tv_s(name)->s, &unsafe))
        rc = tv_undef_new(r, TU_ATTR, tv_owner_name(in), name, out);
    else
        rc = te_getattr(r, in, tv_s(name)->s, tv_s(name)->len, out);
    tv_release(name);
    return rc;
}

static int f_capitalize(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return str_method(r, in, false, "capitalize", NULL, 0, out);
}
static int f_lower(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return str_method(r, in, false, "lower", NULL, 0, out);
}
static int f_upper(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    return str_method(r, in, false, "upper", NULL, 0, out);
}

static int f_center(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("center", "width");
    tval_t w = given[0] ? arg[0] : tv_int(80);
    return str_method(r, in, false, "center", &w, 1, out);
}

static int f_trim(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("trim", "chars");
    return str_method(r, in, false, "strip", given[0] ? &arg[0] : NULL, given[0] ? 1 : 0, out);
}

static int f_default(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("default", "default_value", "boolean");
    bool use = in.kind == TV_UNDEF || (given[1] && tv_truthy(arg[1]) && !tv_truthy(in));
    if (!use) {
        tv_retain(in);
        *out = in;
    } else if (given[0]) {
        tv_retain(arg[0]);
        *out = arg[0];
    } else {
        return tv_str_new(r, "", 0, out);
    }
    return 0;
}

static int f_escape(trender_t *r, tval_t in, const targs_t *a, tval_t *out) { return to_escape(r, in, out); }

static int f_forceescape(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t s;
    int rc = plain_str(r, in, &s);
    if (rc) return rc;
    rc = to_escape(r, s, out);
    tv_release(s);
    return rc;
}

static int f_safe(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    int rc = soft_str(r, in, out);
    if (!rc) out->safe = 1;
    return rc;
}

static int f_string(trender_t *r, tval_t in, const targs_t *a, tval_t *out) { return soft_str(r, in, out); }

static int f_pprint(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tbuf_t b = {0};
    int rc = tv_write_repr(r, &b, in);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

/* Python float(str): decimal with underscores between digits, inf/infinity/nan; no hex. */
static bool parse_py_float(const char *s, size_t n, double *res) {
    char buf[128];
    size_t b = 0, e = n, o = 0;
    while (b < e && (s[b] == ' ' || (s[b] >= '\t' && s[b] <= '\r')))
        b++;
    while (e > b && (s[e - 1] == ' ' || (s[e - 1] >= '\t' && s[e - 1] <= '\r')))
        e--;
    if (b == e || e - b >= sizeof(buf)) return false;
    for (size_t i = b; i < e; i++) {
        char c = s[i];
        if (c == '_') {
            if (i == b || i + 1 == e || !(s[i - 1] >= '0' && s[i - 1] <= '9') || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
                return false;
            continue;
        }
        if (c == 'x' || c == 'X' || c == 'p' || c == 'P' || c == '(' || c == ' ') return false;
        buf[o++] = c;
    }
    buf[o] = 0;
    char *end;
    *res = strtod(buf, &end);
    return end == buf + o && o > 0;
}

/* Python int(str, base) for base 2..36 (and 0: prefix decides); false on syntax error or int64 overflow. */
static bool parse_py_int(const char *s, size_t n, int base, int64_t *res) {
    size_t i = 0, e = n;
    while (i < e && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    while (e > i && (s[e - 1] == ' ' || (s[e - 1] >= '\t' && s[e - 1] <= '\r')))
        e--;
    bool neg = false;
    if (i < e && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i + 1 < e && s[i] == '0') {
        char p = (char)(s[i + 1] | 0x20);
        int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            base = pb;
            i += 2;
            if (i < e && s[i] == '_') i++;
        }
    }
    if (base == 0) base = 10;
    if (i >= e) return false;
    uint64_t v = 0;
    for (size_t k = i; k < e; k++) {
        char c = s[k];
        if (c == '_' && k > i && k + 1 < e && s[k + 1] != '_') continue;
        int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return false;
    *res = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static int f_int(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("int", "default", "base");
    tval_t def = given[0] ? arg[0] : tv_int(0);
    int base = 10;
    if (given[1]) {
        if (!tv_is_intlike(arg[1]) || arg[1].u.i == 1 || arg[1].u.i < 0 || arg[1].u.i > 36)
            return te_fail(r, ERR_TEMPLATE, "int() base must be >= 2 and <= 36, or 0");
        base = (int)arg[1].u.i;
    }
    if (in.kind == TV_UNDEF) return tv_undef_fail(r, in);
    int64_t i;
    double d;
    if (in.kind == TV_STR && parse_py_int(tv_s(in)->s, tv_s(in)->len, base, &i)) {
        *out = tv_int(i);
        return 0;
    }
    if (tv_is_intlike(in)) {
        *out = tv_int(in.u.i);
        return 0;
    }
    bool ok = false;
    if (in.kind == TV_FLOAT)
        d = in.u.f, ok = true;
    else if (in.kind == TV_STR)
        ok = parse_py_float(tv_s(in)->s, tv_s(in)->len, &d);
    if (ok) {
        if (isnan(d)) return te_fail(r, ERR_TEMPLATE, "cannot convert float NaN to integer");
        if (!(d > -9.3e18 && d < 9.3e18)) return te_fail(r, ERR_TEMPLATE, "cannot convert float infinity to integer");
        *out = tv_int((int64_t)d);
        return 0;
    }
    tv_retain(def);
    *out = def;
    return 0;
}

static int f_float(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("float", "default");
    double d;
    if (in.kind == TV_UNDEF) return tv_undef_fail(r, in);
    if (tv_is_num(in)) {
        *out = tv_float(tv_num(in));
        return 0;
    }
    if (in.kind == TV_STR && parse_py_float(tv_s(in)->s, tv_s(in)->len, &d)) {
        *out = tv_float(d);
        return 0;
    }
    if (given[0]) {
        tv_retain(arg[0]);
        *out = arg[0];
    } else {
        *out = tv_float(0.0);
    }
    return 0;
}

static int f_round(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("round", "precision", "method");
    int64_t prec = 0;
    if (given[0]) {
        if (!tv_is_intlike(arg[0]))
            return te_fail(r, ERR_TEMPLATE, "'%s' object cannot be interpreted as an integer", tv_type_name(arg[0]));
        prec = arg[0].u.i;
    }
    const char *method = "common";
    if (given[1]) {
        if (arg[1].kind != TV_STR) return te_fail(r, ERR_TEMPLATE, "method must be common, ceil or floor");
        method = tv_s(arg[1])->s;
        if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
            return te_fail(r, ERR_TEMPLATE, "method must be common, ceil or floor");
    }
    if (!tv_is_num(in)) return te_fail(r, ERR_TEMPLATE, "type %s doesn't define __round__ method", tv_type_name(in));
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    double x = tv_num(in), scale = pow(10.0, (double)prec);
    if (strcmp(method, "common")) {
        double y = strcmp(method, "ceil") == 0 ? ceil(x * scale) : floor(x * scale);
        *out = tv_float(y / scale);
        return 0;
    }
    if (in.kind != TV_FLOAT) { /* round(int, n) stays an int */
        if (prec >= 0) {
            *out = tv_int(in.u.i);
            return 0;
        }
        double q = x / pow(10.0, (double)-prec), fl = floor(q), rem = q - fl;
        if (rem > 0.5 || (rem == 0.5 && fmod(fl, 2.0) != 0)) fl += 1;
        *out = tv_int((int64_t)(fl * pow(10.0, (double)-prec)));
        return 0;
    }
    if (!isfinite(x)) {
        *out = in;
        return 0;
    }
    if (prec >= 0) { /* correctly rounded, half to even on the exact binary value, as Python does */
        char buf[400];
        snprintf(buf, sizeof(buf), "%.*f", (int)prec, x);
        *out = tv_float(strtod(buf, NULL));
    } else {
        double p = pow(10.0, (double)-prec), q = x / p, fl = floor(q), rem = q - fl;
        if (rem > 0.5 || (rem == 0.5 && fmod(fl, 2.0) != 0)) fl += 1;
        *out = tv_float(fl * p);
    }
    return 0;
}

/* Jinja's indent(): requires a string, as `s += "\n"` does in Jinja. */
static int f_indent(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("indent", "width", "first", "blank");
    if (in.kind == TV_UNDEF) return tv_undef_fail(r, in);
    if (in.kind != TV_STR)
        return te_fail(r, ERR_TEMPLATE, "unsupported operand type(s) for +=: '%s' and 'str'", tv_type_name(in));
    tval_t ind;
    int rc;
    if (given[0] && arg[0].kind == TV_STR) {
        tv_retain(arg[0]);
        ind = arg[0];
        rc = 0;
    } else {
        int64_t w = 4;
        if (given[0]) {
            if (!tv_is_intlike(arg[0]))
                return te_fail(r, ERR_TEMPLATE, "can't multiply sequence by non-int of type '%s'",
                               tv_type_name(arg[0]));
            w = arg[0].u.i;
        }
        tbuf_t sp = {0};
        rc = 0;
        if (w > (int64_t)r->max_str) rc = te_fail(r, ERR_LIMIT, "indent width too large");
        for (int64_t i = 0; !rc && i < w; i++)
            rc = tb_putc(r, &sp, ' ');
        if (!rc) rc = tb_finish(r, &sp, &ind);
        tb_free(&sp);
    }
    if (rc) return rc;
    bool first = given[1] && tv_truthy(arg[1]), blank = given[2] && tv_truthy(arg[2]);
    tval_t s1 = tv_undef(), lines = tv_undef();
    tbuf_t b = {0}, nb = {0};
    rc = tb_put(r, &nb, tv_s(in)->s, tv_s(in)->len); /* s += "\n", the quirk splitlines() relies on */
    if (!rc) rc = tb_putc(r, &nb, '\n');
    if (!rc) rc = tb_finish(r, &nb, &s1);
    tb_free(&nb);
    if (!rc) {
        targs_t none = {0};
        rc = tm_call(r, s1, "splitlines", &none, &lines);
    }
    tv_release(s1);
    tstr_t *is = tv_s(ind);
    if (!rc && first) rc = tb_put(r, &b, is->s, is->len);
    for (size_t i = 0; !rc && i < tv_l(lines)->n; i++) {
        tstr_t *line = tv_s(tv_l(lines)->v[i]);
        if (i > 0) {
            rc = tb_putc(r, &b, '\n');
            if (!rc && (blank || line->len)) rc = tb_put(r, &b, is->s, is->len);
        }
        if (!rc) rc = tb_put(r, &b, line->s, line->len);
    }
    if (!rc) rc = tb_finish(r, &b, out);
    if (!rc) out->safe = in.safe;
    tb_free(&b);
    tv_release(lines);
    tv_release(ind);
    return rc;
}

static int f_replace(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("replace", "old", "new", "count");
    if (!given[0] || !given[1]) return te_fail(r, ERR_TEMPLATE, "replace() missing required arguments 'old' and 'new'");
    tval_t args[3];
    int rc = plain_str(r, arg[0], &args[0]);
    if (rc) return rc;
    if ((rc = plain_str(r, arg[1], &args[1]))) {
        tv_release(args[0]);
        return rc;
    }
    args[2] = given[2] && arg[2].kind != TV_NONE ? arg[2] : tv_int(-1);
    rc = str_method(r, in, true, "replace", args, 3, out);
    tv_release(args[0]);
    tv_release(args[1]);
    return rc;
}

static int f_format(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t s, args;
    int rc = soft_str(r, in, &s);
    if (rc) return rc;
    if (a->nkw) {
        if (a->npos) {
            tv_release(s);
            return te_fail(r, ERR_TEMPLATE, "can't handle positional and keyword arguments at the same time");
        }
        rc = tv_dict_new(r, a->nkw, &args);
        for (size_t i = 0; !rc && i < a->nkw; i++) {
            tval_t k;
            if (!(rc = tv_str_cstr(r, a->kwn[i], &k))) {
                tv_retain(a->kwv[i]);
                rc = tv_dict_set(r, tv_d(args), k, a->kwv[i]);
            }
        }
    } else {
        rc = tv_list_new(r, a->npos, true, &args);
        for (size_t i = 0; !rc && i < a->npos; i++) {
            tv_retain(a->pos[i]);
            rc = tv_list_push(r, tv_l(args), a->pos[i]);
        }
    }
    if (!rc) rc = to_percent_format(r, s, args, out);
    tv_release(args);
    tv_release(s);
    return rc;
}

/* Jinja's title(): words begin after whitespace, '-', '(', '{', '[' or '<'. */
static int f_title(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t s;
    int rc = soft_str(r, in, &s);
    if (rc) return rc;
    tstr_t *str = tv_s(s);
    tbuf_t b = {0};
    bool word_start = true;
    for (size_t i = 0; i < str->len && !rc;) {
        uint32_t c = tu_decode(str->s, str->len, &i);
        bool sep = tu_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        if (sep) {
            rc = tb_putcp(r, &b, c);
            word_start = true;
        } else {
            rc = word_start ? tu_put_upper(r, &b, c) : tu_put_lower(r, &b, c); /* item[0].upper() */
            word_start = false;
        }
    }
    if (!rc) rc = tb_finish(r, &b, out);
    if (!rc) out->safe = s.safe;
    tb_free(&b);
    tv_release(s);
    return rc;
}

static int f_truncate(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("truncate", "length", "killwords", "end", "leeway");
    int64_t length = 255, leeway = 5;
    if (given[0]) {
        if (!tv_is_intlike(arg[0])) return te_fail(r, ERR_TEMPLATE, "truncate length must be an integer");
        length = arg[0].u.i;
    }
    if (given[3] && arg[3].kind != TV_NONE) {
        if (!tv_is_intlike(arg[3])) return te_fail(r, ERR_TEMPLATE, "truncate leeway must be an integer");
        leeway = arg[3].u.i;
    }
    tval_t s, end;
    int rc;
    if (in.kind != TV_STR) { /* Jinja measures the value itself: only strings can be cut */
        size_t n = in.kind == TV_LIST ? tv_l(in)->n : in.kind == TV_DICT ? tv_d(in)->n : 0;
        if (in.kind != TV_UNDEF && in.kind != TV_LIST && in.kind != TV_DICT)
            return te_fail(r, ERR_TEMPLATE, "object of type '%s' has no len()", tv_type_name(in));
        if ((int64_t)n > length + leeway) return te_fail(r, ERR_TEMPLATE, "only strings can be truncated");
        tv_retain(in);
        *out = in;
        return 0;
    }
    if ((rc = soft_str(r, in, &s))) return rc;
    if (given[2])
        rc = plain_str(r, arg[2], &end);
    else
        rc = tv_str_new(r, "...", 3, &end);
    if (rc) {
        tv_release(s);
        return rc;
    }
    tstr_t *str = tv_s(s), *e = tv_s(end);
    int64_t n = (int64_t)tu_len(str->s, str->len), ne = (int64_t)tu_len(e->s, e->len);
    if (length < ne)
        rc = te_fail(r, ERR_TEMPLATE, "expected length >= %lld, got %lld", (long long)ne, (long long)length);
    else if (leeway < 0)
        rc = te_fail(r, ERR_TEMPLATE, "expected leeway >= 0, got %lld", (long long)leeway);
    else if (n <= length + leeway) {
        tv_retain(s);
        *out = s;
    } else {
        size_t cut = tu_offset(str->s, str->len, (size_t)(length - ne));
        if (!(given[1] && tv_truthy(arg[1]))) { /* rsplit(" ", 1)[0] */
            size_t k = cut;
            while (k > 0 && str->s[k - 1] != ' ')
                k--;
            if (k > 0) cut = k - 1;
        }
        tbuf_t b = {0};
        rc = tb_put(r, &b, str->s, cut);
        if (!rc) rc = tb_put(r, &b, e->s, e->len);
        if (!rc) rc = tb_finish(r, &b, out);
        tb_free(&b);
    }
    tv_release(s);
    tv_release(end);
    return rc;
}

static int f_wordcount(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t s;
    int rc = soft_str(r, in, &s);
    if (rc) return rc;
    int64_t count = 0;
    bool in_word = false;
    for (size_t i = 0; i < tv_s(s)->len;) {
        bool w = tu_isalnum_w(tu_decode(tv_s(s)->s, tv_s(s)->len, &i));
        if (w && !in_word) count++;
        in_word = w;
    }
    tv_release(s);
    *out = tv_int(count);
    return 0;
}

static int f_striptags(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tval_t s;
    int rc = soft_str(r, in, &s);
    if (rc) return rc;
    const char *p = tv_s(s)->s;
    size_t n = tv_s(s)->len;
    tbuf_t b = {0};
    bool space = false, any = false;
    for (size_t i = 0; i < n && !rc;) {
        if (p[i] == '<' && i + 3 < n && !memcmp(p + i, "<!--", 4)) {
            const char *e = memmem(p + i + 4, n - i - 4, "-->", 3);
            i = e ? (size_t)(e - p) + 3 : n;
            continue;
        }
        if (p[i] == '<') {
            const char *e = memchr(p + i, '>', n - i);
            if (e) {
                i = (size_t)(e - p) + 1;
                continue;
            }
        }
        size_t start = i;
        uint32_t c = tu_decode(p, n, &i);
        if (tu_isspace(c)) {
            space = any;
            continue;
        }
        if (space) rc = tb_putc(r, &b, ' ');
        space = false;
        any = true;
        if (!rc && c == '&') { /* the common entities, as markupsafe's unescape */
            static const struct {
                const char *ent;
                char ch;
            } ents[] = {{"&amp;", '&'}, {"&lt;", '<'},   {"&gt;", '>'},   {"&quot;", '"'},
                        {"&#34;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
            bool done = false;
            for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]) && !done; k++) {
                size_t el = strlen(ents[k].ent);
                if (start + el <= n && !memcmp(p + start, ents[k].ent, el)) {
                    rc = tb_putc(r, &b, ents[k].ch);
                    i = start + el;
                    done = true;
                }
            }
            if (done) continue;
        }
        if (!rc) rc = tb_put(r, &b, p + start, i - start);
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    tv_release(s);
    return rc;
}

static int url_quote(trender_t *r, tbuf_t *b, tval_t v, bool for_qs) {
    tval_t s;
    int rc = plain_str(r, v, &s);
    if (rc) return rc;
    for (size_t i = 0; i < tv_s(s)->len && !rc; i++) {
        unsigned char c = (unsigned char)tv_s(s)->s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_.-~", c) ||
            (c == '/' && !for_qs))
            rc = tb_putc(r, b, (char)c);
        else if (c == ' ' && for_qs)
            rc = tb_putc(r, b, '+');
        else
            rc = tb_printf(r, b, "%%%02X", c);
    }
    tv_release(s);
    return rc;
}

static int f_urlencode(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    tbuf_t b = {0};
    int rc = 0;
    if (in.kind == TV_DICT || in.kind == TV_LIST) {
        bool dict = in.kind == TV_DICT;
        size_t n = dict ? tv_d(in)->n : tv_l(in)->n;
        for (size_t i = 0; i < n && !rc; i++) {
            tval_t k, v;
            if (dict)
                k = tv_d(in)->k[i], v = tv_d(in)->v[i];
            else {
                tval_t pair = tv_l(in)->v[i];
                if (pair.kind != TV_LIST || tv_l(pair)->n != 2) {
                    rc = te_fail(r, ERR_TEMPLATE, "urlencode expects pairs");
                    break;
                }
                k = tv_l(pair)->v[0], v = tv_l(pair)->v[1];
            }
            if (i) rc = tb_putc(r, &b, '&');
            if (!rc) rc = url_quote(r, &b, k, true);
            if (!rc) rc = tb_putc(r, &b, '=');
            if (!rc) rc = url_quote(r, &b, v, true);
        }
    } else {
        rc = url_quote(r, &b, in, false);
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int f_filesizeformat(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("filesizeformat", "binary");
    double bytes;
    if (tv_is_num(in))
        bytes = tv_num(in);
    else if (in.kind != TV_STR || !parse_py_float(tv_s(in)->s, tv_s(in)->len, &bytes))
        return te_fail(r, ERR_TEMPLATE, "could not convert %s to float", tv_type_name(in));
    bool binary = given[0] && tv_truthy(arg[0]);
    double base = binary ? 1024 : 1000;
    static const char *const dec[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    static const char *const bin[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
    char buf[64];
    if (bytes == 1)
        snprintf(buf, sizeof(buf), "1 Byte");
    else if (bytes < base)
        snprintf(buf, sizeof(buf), "%lld Bytes", (long long)bytes);
    else {
        int i = 0;
        double unit = base * base;
        while (i < 7 && bytes >= unit) {
            unit *= base;
            i++;
        }
        snprintf(buf, sizeof(buf), "%.1f %s", base * bytes / unit, binary ? bin[i] : dec[i]);
    }
    return tv_str_cstr(r, buf, out);
}

/* Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False). */
static int f_tojson(trender_t *r, tval_t in, const targs_t *a, tval_t *out) {
    BIND("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
    tj_opts_t o = {.ensure_ascii = given[0] && tv_truthy(arg[0]), .sort_keys = given[3] && tv_truthy(arg[3])};
    tval_t ind = tv_undef();
    int rc = 0;
    if (given[1] && arg[1].kind != TV_NONE) {
        o.indent_set = true;
        if (arg[1].kind == TV_STR) {
            o.indent = tv_s(arg[1])->s;
            o.indent_len = tv_s(arg[1])->len;
        } else if (tv_is_intlike(arg[1])) {
            int64_t w = arg[1].u.i < 0 ? 0 : arg[1].u.i;
            if (w > 1000) return te_fail(r, ERR_LIMIT, "tojson indent too large");
            tbuf_t sp = {0};
            for (int64_t i = 0; !rc && i < w; i++)
                rc = tb_putc(r, &sp, ' ');
            if (!rc) rc = tb_finish(r, &sp, &ind);
            tb_free(&sp);
            if (rc) return rc;
            o.indent = tv_s(ind)->s;
            o.indent_len = tv_s(ind)->len;
        } else {
            return te_fail(r, ERR_TEMPLATE, "tojson indent must be an integer or a string");
        }
    }
    if (given[2] && arg[2].kind != TV_NONE) {
        tval_t sep = arg[2];
        if (sep.kind != TV_LIST || tv_l(sep)->n != 2 || tv_l(sep)->v[0].kind != TV_STR ||
            tv_l(sep)->v[1].kind != TV_STR) {
            tv_release(ind);
            return te_fail(r, ERR_TEMPLATE, "tojson separators must be a pair of strings");
        }
        o.item_sep = tv_s(tv_l(sep)->v[0])->s;
        o.item_sep_len = tv_s(tv_l(sep)->v[0])->len;
        o.key_sep = tv_s(tv_l(sep)->v[1])->s;
        o.key_sep_len = tv_s(tv_l(sep)->v[1])->len;
    }
    tbuf_t b = {0};
    rc = tj_dumps(r, &b, in, &o);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    tv_release(ind);
    return rc;
}

int tf_ignore_case(trender_t *r, tval_t v, tval_t *out) {
    if (v.kind != TV_STR) {
        tv_retain(v);
        *out = v;
        return 0;
    }
    targs_t none = {0};
    return tm_call(r, v, "lower", &none, out);
}

static const tf_entry_t str_filters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"d", f_default},
    {"default", f_default},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},
    {"lower", f_lower},
    {"pprint", f_pprint},
    {"replace", f_replace},
    {"round", f_round},
    {"safe", f_safe},
    {"string", f_string},
    {"striptags", f_striptags},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"upper", f_upper},
    {"urlencode", f_urlencode},
    {"wordcount", f_wordcount},
};
#define N_STR_FILTERS (sizeof(str_filters) / sizeof(str_filters[0]))
#define SEQ_BASE      1000

int tf_filter_id(const char *name) {
    for (size_t i = 0; i < N_STR_FILTERS; i++)
        if (!strcmp(str_filters[i].name, name)) return (int)i;
    for (size_t i = 0; i < tf_n_seq_filters; i++)
        if (!strcmp(tf_seq_filters[i].name, name)) return SEQ_BASE + (int)i;
    return -1;
}

int tf_apply(trender_t *r, int id, tval_t input, const targs_t *a, tval_t *out) {
    *out = tv_undef();
    int rc;
    if ((rc = te_step(r))) return rc;
    if (id >= 0 && (size_t)id < N_STR_FILTERS) return str_filters[id].fn(r, input, a, out);
    if (id >= SEQ_BASE && (size_t)(id - SEQ_BASE) < tf_n_seq_filters)
        return tf_seq_filters[id - SEQ_BASE].fn(r, input, a, out);
    return te_fail(r, ERR_TEMPLATE, "unknown filter");
}
