/*
 * methods.c — the Python methods templates call on values: str, list, tuple and dict methods, plus the methods
 * of Jinja's loop and cycler objects.
 *
 * Owns: tm_has_method/tm_call. Strings are handled as code points (UTF-8 decoded), so indices, lengths and
 * character sets match Python. Methods called on a Markup string return Markup, as markupsafe does.
 * Mutating methods (list.append, dict.update, ...) exist but are unsafe: Hugging Face renders with an
 * ImmutableSandboxedEnvironment, so calling them raises "access to attribute 'append' of 'list' object is
 * unsafe." (calls.c produces that Undefined; see tm_has_method).
 *
 * Single-threaded per render.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

static const char *const str_methods[] = {"capitalize",   "casefold",     "center",    "count",    "endswith",
                                          "expandtabs",   "find",         "format",    "index",    "isalnum",
                                          "isalpha",      "isascii",      "isdecimal", "isdigit",  "isidentifier",
                                          "islower",      "isnumeric",    "isspace",   "istitle",  "isupper",
                                          "join",         "ljust",        "lower",     "lstrip",   "partition",
                                          "removeprefix", "removesuffix", "replace",   "rfind",    "rindex",
                                          "rjust",        "rpartition",   "rsplit",    "rstrip",   "split",
                                          "splitlines",   "startswith",   "strip",     "swapcase", "title",
                                          "upper",        "zfill",        NULL};
static const char *const list_methods[] = {"copy", "count", "index", NULL};
static const char *const list_unsafe[] = {"append", "clear",   "extend", "insert", "pop",
                                          "remove", "reverse", "sort",   NULL};
static const char *const dict_methods[] = {"copy", "get", "items", "keys", "values", NULL};
static const char *const dict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update", NULL};
static const char *const loop_methods[] = {"changed", "cycle", NULL};
static const char *const cycler_methods[] = {"next", "reset", NULL};

static bool in_list(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name)) return true;
    return false;
}

bool tm_has_method(tval_t v, const char *name, bool *unsafe) {
    *unsafe = false;
    switch (v.kind) {
    case TV_STR: return in_list(str_methods, name);
    case TV_LIST:
        if (in_list(list_methods, name) && !(tv_l(v)->tuple && !strcmp(name, "copy"))) return true;
        if (!tv_l(v)->tuple && in_list(list_unsafe, name)) return *unsafe = true;
        return false;
    case TV_DICT:
        if (in_list(dict_methods, name)) return true;
        if (in_list(dict_unsafe, name)) return *unsafe = true;
        return false;
    case TV_LOOP: return in_list(loop_methods, name);
    case TV_CYCLER: return !((tcycler_t *)v.u.o)->joiner && in_list(cycler_methods, name);
    default: return false;
    }
}

/* ---- code point strings ---- */

typedef struct {
    uint32_t *c;
    size_t n;
} cps_t;

static int decode(trender_t *r, tval_t s, cps_t *out) {
    tstr_t *t = tv_s(s);
    out->c = NULL;
    out->n = 0;
    if (te_charge(r, (t->len + 1) * sizeof(uint32_t))) return r->rc;
    out->c = malloc((t->len + 1) * sizeof(uint32_t));
    if (!out->c) return te_fail(r, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < t->len;)
        out->c[out->n++] = tu_decode(t->s, t->len, &i);
    return 0;
}

static int put_cps(trender_t *r, tbuf_t *b, const uint32_t *c, size_t n) {
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = tb_putcp(r, b, c[i]);
    return rc;
}

static int new_str_cps(trender_t *r, const uint32_t *c, size_t n, tval_t *out) {
    tbuf_t b = {0};
    int rc = put_cps(r, &b, c, n);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static bool cps_eq(const uint32_t *a, const uint32_t *b, size_t n) {
    return n == 0 || !memcmp(a, b, n * sizeof(uint32_t));
}

/* First index >= from where needle occurs in hay[0..end), or -1. */
static long find_cps(const cps_t *hay, const cps_t *needle, size_t from, size_t end) {
    if (needle->n > end) return -1;
    for (size_t i = from; i + needle->n <= end; i++)
        if (cps_eq(hay->c + i, needle->c, needle->n)) return (long)i;
    return -1;
}

static long rfind_cps(const cps_t *hay, const cps_t *needle, size_t from, size_t end) {
    if (needle->n > end || end < from + needle->n) return -1;
    for (size_t i = end - needle->n + 1; i-- > from;)
        if (cps_eq(hay->c + i, needle->c, needle->n)) return (long)i;
    return -1;
}

#define BIND(fname, ...)                                                                                               \
    static const char *const names_[] = {__VA_ARGS__};                                                                 \
    enum { N_ = sizeof(names_) / sizeof(names_[0]) };                                                                  \
    tval_t arg[N_];                                                                                                    \
    bool given[N_];                                                                                                    \
    int rc_ = te_bind(r, a, fname, names_, N_, arg, given);                                                            \
    if (rc_) return rc_

static int need_str(trender_t *r, tval_t v, const char *what) {
    if (v.kind == TV_STR) return 0;
    return te_fail(r, ERR_TEMPLATE, "%s must be str, not %s", what, tv_type_name(v));
}

/* Python's start/end slice arguments resolved against length n. */
static void clamp_range(const bool *given, const tval_t *arg, size_t n, size_t *b, size_t *e) {
    int64_t lo = 0, hi = (int64_t)n;
    if (given[0] && tv_is_intlike(arg[0])) lo = arg[0].u.i < 0 ? arg[0].u.i + (int64_t)n : arg[0].u.i;
    if (given[1] && tv_is_intlike(arg[1])) hi = arg[1].u.i < 0 ? arg[1].u.i + (int64_t)n : arg[1].u.i;
    if (lo < 0) lo = 0;
    if (hi > (int64_t)n) hi = (int64_t)n;
    if (hi < lo) hi = lo;
    *b = (size_t)(lo > (int64_t)n ? (int64_t)n : lo);
    *e = (size_t)hi < *b ? *b : (size_t)hi;
}

/* ---- strip / split ---- */

static bool in_set(uint32_t c, const cps_t *set) {
    if (!set) return tu_isspace(c);
    for (size_t i = 0; i < set->n; i++)
        if (set->c[i] == c) return true;
    return false;
}

static int m_strip(trender_t *r, tval_t self, const targs_t *a, int which, tval_t *out) {
    BIND(which == 0 ? "strip" : which == 1 ? "lstrip" : "rstrip", "chars");
    cps_t set = {0};
    bool use_set = given[0] && arg[0].kind != TV_NONE;
    int rc;
    if (use_set && (rc = need_str(r, arg[0], "strip arg"))) return rc;
    if (use_set && (rc = decode(r, arg[0], &set))) return rc;
    const cps_t *sp = use_set ? &set : NULL;
    tstr_t *s = tv_s(self);
    size_t b = 0, e = s->len;
    while (which != 2 && b < e) { /* skip characters from the left */
        size_t next = b;
        if (!in_set(tu_decode(s->s, e, &next), sp)) break;
        b = next;
    }
    while (which != 1 && e > b) { /* and from the right, one whole character at a time */
        size_t start = e - 1;
        while (start > b && ((unsigned char)s->s[start] & 0xC0) == 0x80 && e - start < 4)
            start--;
        size_t next = start;
        uint32_t c = tu_decode(s->s, e, &next);
        if (next != e) { /* not a complete character ending at e: an undecodable byte */
            start = e - 1;
            next = start;
            c = tu_decode(s->s, e, &next);
        }
        if (!in_set(c, sp)) break;
        e = start;
    }
    free(set.c);
    if (b == 0 && e == s->len) {
        tv_retain(self);
        *out = self;
        out->safe = 0;
        return 0;
    }
    return tv_str_new(r, s->s + b, e - b, out);
}

static int push_cps(trender_t *r, tval_t list, const uint32_t *c, size_t n) {
    tval_t v;
    int rc = new_str_cps(r, c, n, &v);
    if (!rc) rc = tv_list_push(r, tv_l(list), v);
    return rc;
}

/* Start of the character that ends at byte e (not before lo); an undecodable byte counts as one character. */
static size_t prev_char(const char *s, size_t lo, size_t e) {
    size_t start = e - 1;
    while (start > lo && ((unsigned char)s[start] & 0xC0) == 0x80 && e - start < 4)
        start--;
    size_t next = start;
    tu_decode(s, e, &next);
    return next == e ? start : e - 1;
}

static bool space_at(const char *s, size_t n, size_t i, size_t *next) {
    *next = i;
    return tu_isspace(tu_decode(s, n, next));
}

/* str.split / str.rsplit on the UTF-8 bytes: separators are matched bytewise (exact for UTF-8), whitespace by
 * Python's str.isspace. */
static int m_split(trender_t *r, tval_t self, const targs_t *a, bool from_right, tval_t *out) {
    BIND(from_right ? "rsplit" : "split", "sep", "maxsplit");
    int64_t maxsplit = -1;
    if (given[1]) {
        if (!tv_is_intlike(arg[1])) return te_fail(r, ERR_TEMPLATE, "maxsplit must be an integer");
        maxsplit = arg[1].u.i;
    }
    bool ws = !given[0] || arg[0].kind == TV_NONE;
    int rc;
    if (!ws && (rc = need_str(r, arg[0], "separator"))) return rc;
    if (!ws && tv_s(arg[0])->len == 0) return te_fail(r, ERR_TEMPLATE, "empty separator");
    const char *str = tv_s(self)->s, *sep = ws ? NULL : tv_s(arg[0])->s;
    size_t n = tv_s(self)->len, sl = ws ? 0 : tv_s(arg[0])->len, nx;
    if ((rc = tv_list_new(r, 0, false, out))) return rc;
    tlist_t *l = tv_l(*out);
    int64_t splits = 0;
#define PIECE(B, E)                                                                                                    \
    do {                                                                                                               \
        tval_t v_;                                                                                                     \
        if ((rc = tv_str_new(r, str + (B), (E) - (B), &v_)) || (rc = tv_list_push(r, l, v_))) goto fail;               \
    } while (0)
    if (ws && !from_right) {
        size_t i = 0;
        for (;;) {
            while (i < n && space_at(str, n, i, &nx))
                i = nx;
            if (i >= n) break;
            if (maxsplit >= 0 && splits >= maxsplit) { /* the rest, trailing whitespace included */
                PIECE(i, n);
                break;
            }
            size_t j = i;
            while (j < n && !space_at(str, n, j, &nx))
                j = nx;
            PIECE(i, j);
            splits++;
            i = j;
        }
    } else if (ws) {
        size_t e = n;
        for (;;) {
            while (e > 0 && space_at(str, n, prev_char(str, 0, e), &nx))
                e = prev_char(str, 0, e);
            if (e == 0) break;
            if (maxsplit >= 0 && splits >= maxsplit) { /* the rest, leading whitespace included */
                PIECE(0, e);
                break;
            }
            size_t j = e;
            while (j > 0 && !space_at(str, n, prev_char(str, 0, j), &nx))
                j = prev_char(str, 0, j);
            PIECE(j, e);
            splits++;
            e = j;
        }
    } else if (!from_right) {
        size_t i = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit) ? memmem(str + i, n - i, sep, sl) : NULL;
            if (!hit) {
                PIECE(i, n);
                break;
            }
            size_t k = (size_t)(hit - str);
            PIECE(i, k);
            i = k + sl;
            splits++;
        }
    } else {
        size_t e = n;
        for (;;) {
            size_t k = e;
            bool found = false;
            if (maxsplit < 0 || splits < maxsplit)
                while (k >= sl && !found) {
                    if (memcmp(str + k - sl, sep, sl) == 0)
                        found = true;
                    else
                        k--;
                }
            if (!found) {
                PIECE(0, e);
                break;
            }
            PIECE(k, e);
            e = k - sl;
            splits++;
        }
    }
#undef PIECE
    if (from_right) { /* pieces were found right to left */
        for (size_t i = 0; i < l->n / 2; i++) {
            tval_t t = l->v[i];
            l->v[i] = l->v[l->n - 1 - i];
            l->v[l->n - 1 - i] = t;
        }
    }
    return 0;
fail:
    tv_clear(out);
    return rc;
}

static bool is_linebreak(uint32_t c) {
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
           c == 0x2028 || c == 0x2029;
}

static int m_splitlines(trender_t *r, tval_t self, const targs_t *a, tval_t *out) {
    BIND("splitlines", "keepends");
    bool keep = given[0] && tv_truthy(arg[0]);
    cps_t s;
    int rc = decode(r, self, &s);
    if (rc) return rc;
    rc = tv_list_new(r, 0, false, out);
    size_t i = 0;
    while (!rc && i < s.n) {
        size_t j = i;
        while (j < s.n && !is_linebreak(s.c[j]))
            j++;
        size_t e = j;
        if (j < s.n) e = (s.c[j] == '\r' && j + 1 < s.n && s.c[j + 1] == '\n') ? j + 2 : j + 1;
        rc = push_cps(r, *out, s.c + i, (keep ? e : j) - i);
        i = e;
    }
    free(s.c);
    if (rc) tv_clear(out);
    return rc;
}

/* ---- case ---- */

static int m_case(trender_t *r, tval_t self, const char *mode, tval_t *out) {
    tstr_t *s = tv_s(self);
    tbuf_t b = {0};
    int rc = 0;
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < s->len && !rc;) {
        uint32_t c = tu_decode(s->s, s->len, &i);
        bool up = tu_iscased_upper(c), low = tu_iscased_lower(c);
        switch (mode[0]) {
        case 'u': rc = tu_put_upper(r, &b, c); break; /* upper */
        case 'l':                                     /* lower */
        case 'f': rc = tu_put_lower(r, &b, c); break; /* casefold */
        case 's': rc = up ? tu_put_lower(r, &b, c) : low ? tu_put_upper(r, &b, c) : tb_putcp(r, &b, c); break;
        case 'c': rc = first ? tu_put_title(r, &b, c) : tu_put_lower(r, &b, c); break; /* capitalize */
        case 't':                                                                      /* title */
            if (up || low)
                rc = prev_cased ? tu_put_lower(r, &b, c) : tu_put_title(r, &b, c);
            else
                rc = tb_putcp(r, &b, c);
            prev_cased = up || low;
            break;
        }
        first = false;
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int m_is(trender_t *r, tval_t self, const char *name, tval_t *out) {
    tstr_t *s = tv_s(self);
    bool all = s->len > 0, any_cased = false, ok = true, prev_cased = false;
    if (!strcmp(name, "isascii")) {
        for (size_t i = 0; i < s->len; i++)
            if ((unsigned char)s->s[i] >= 0x80) ok = false;
        *out = tv_bool(ok);
        return 0;
    }
    for (size_t i = 0, k = 0; i < s->len; k++) {
        uint32_t c = tu_decode(s->s, s->len, &i);
        bool up = tu_iscased_upper(c), low = tu_iscased_lower(c);
        if (!strcmp(name, "isdigit") || !strcmp(name, "isdecimal") || !strcmp(name, "isnumeric"))
            all = all && tu_isdigit(c);
        else if (!strcmp(name, "isalpha"))
            all = all && tu_isalpha(c);
        else if (!strcmp(name, "isalnum"))
            all = all && (tu_isalpha(c) || tu_isdigit(c));
        else if (!strcmp(name, "isspace"))
            all = all && tu_isspace(c);
        else if (!strcmp(name, "isidentifier"))
            all = all && (tu_isalpha(c) || c == '_' || (k > 0 && tu_isdigit(c)));
        else if (!strcmp(name, "islower")) {
            any_cased |= low;
            ok = ok && !up;
        } else if (!strcmp(name, "isupper")) {
            any_cased |= up;
            ok = ok && !low;
        } else if (!strcmp(name, "istitle")) {
            if (up) {
                ok = ok && !prev_cased;
                any_cased = true;
            } else if (low) {
                ok = ok && prev_cased;
                any_cased = true;
            }
            prev_cased = up || low;
        }
    }
    if (!strcmp(name, "islower") || !strcmp(name, "isupper") || !strcmp(name, "istitle"))
        *out = tv_bool(any_cased && ok);
    else
        *out = tv_bool(all);
    return 0;
}

/* ---- search and replace ---- */

static int m_startsends(trender_t *r, tval_t self, const targs_t *a, bool ends, tval_t *out) {
    BIND(ends ? "endswith" : "startswith", "prefix", "start", "end");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "%s() takes at least 1 argument", ends ? "endswith" : "startswith");
    tval_t pre = arg[0];
    size_t count = pre.kind == TV_LIST && tv_l(pre)->tuple ? tv_l(pre)->n : 1;
    if (!(pre.kind == TV_LIST && tv_l(pre)->tuple) && pre.kind != TV_STR)
        return te_fail(r, ERR_TEMPLATE, "%s first arg must be str or a tuple of str, not %s",
                       ends ? "endswith" : "startswith", tv_type_name(pre));
    if (!given[1] && !given[2]) { /* the common case: compare bytes, no decoding */
        tstr_t *s = tv_s(self);
        for (size_t i = 0; i < count; i++) {
            tval_t p = pre.kind == TV_STR ? pre : tv_l(pre)->v[i];
            int rc = need_str(r, p, "tuple for startswith/endswith");
            if (rc) return rc;
            tstr_t *x = tv_s(p);
            if (x->len <= s->len && !memcmp(ends ? s->s + s->len - x->len : s->s, x->s, x->len)) {
                *out = tv_bool(true);
                return 0;
            }
        }
        *out = tv_bool(false);
        return 0;
    }
    cps_t s;
    int rc = decode(r, self, &s);
    if (rc) return rc;
    size_t b, e;
    clamp_range(given + 1, arg + 1, s.n, &b, &e);
    bool hit = false;
    for (size_t i = 0; i < count && !hit && !rc; i++) {
        tval_t p = pre.kind == TV_STR ? pre : tv_l(pre)->v[i];
        if ((rc = need_str(r, p, "tuple for startswith/endswith"))) break;
        cps_t pc;
        if ((rc = decode(r, p, &pc))) break;
        if (pc.n <= e - b) hit = ends ? cps_eq(s.c + e - pc.n, pc.c, pc.n) : cps_eq(s.c + b, pc.c, pc.n);
        if (given[1] && tv_is_intlike(arg[1]) && arg[1].u.i > (int64_t)s.n) hit = false;
        free(pc.c);
    }
    free(s.c);
    if (!rc) *out = tv_bool(hit);
    return rc;
}

static int m_find(trender_t *r, tval_t self, const targs_t *a, const char *name, tval_t *out) {
    BIND(name, "sub", "start", "end");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "%s() takes at least 1 argument", name);
    int rc = need_str(r, arg[0], "substring");
    if (rc) return rc;
    cps_t s, sub;
    if ((rc = decode(r, self, &s))) return rc;
    if ((rc = decode(r, arg[0], &sub))) {
        free(s.c);
        return rc;
    }
    size_t b, e;
    clamp_range(given + 1, arg + 1, s.n, &b, &e);
    bool past = given[1] && tv_is_intlike(arg[1]) && arg[1].u.i > (int64_t)s.n;
    if (!strcmp(name, "count")) {
        int64_t n = 0;
        if (!past) {
            if (sub.n == 0)
                n = (int64_t)(e - b) + 1;
            else
                for (long k = find_cps(&s, &sub, b, e); k >= 0; k = find_cps(&s, &sub, (size_t)k + sub.n, e))
                    n++;
        }
        *out = tv_int(n);
    } else {
        bool rev = name[0] == 'r';
        long k = past ? -1 : rev ? rfind_cps(&s, &sub, b, e) : find_cps(&s, &sub, b, e);
        if (k < 0 && strstr(name, "index"))
            rc = te_fail(r, ERR_TEMPLATE, "substring not found");
        else
            *out = tv_int(k);
    }
    free(s.c);
    free(sub.c);
    return rc;
}

static int m_replace(trender_t *r, tval_t self, const targs_t *a, tval_t *out) {
    BIND("replace", "old", "new", "count");
    if (!given[0] || !given[1]) return te_fail(r, ERR_TEMPLATE, "replace() takes at least 2 arguments");
    int rc = need_str(r, arg[0], "replace() argument 1");
    if (!rc) rc = need_str(r, arg[1], "replace() argument 2");
    if (rc) return rc;
    int64_t count = -1;
    if (given[2]) {
        if (!tv_is_intlike(arg[2])) return te_fail(r, ERR_TEMPLATE, "replace() count must be an integer");
        count = arg[2].u.i;
    }
    tstr_t *s = tv_s(self), *old = tv_s(arg[0]), *nw = tv_s(arg[1]);
    tbuf_t b = {0};
    if (old->len == 0) { /* insert between every character */
        int64_t done = 0;
        for (size_t i = 0; !rc;) {
            if (count < 0 || done < count) {
                rc = tb_put(r, &b, nw->s, nw->len);
                done++;
            }
            if (rc || i >= s->len) break;
            size_t st = i;
            tu_decode(s->s, s->len, &i);
            rc = tb_put(r, &b, s->s + st, i - st);
        }
    } else { /* byte search is exact for valid UTF-8: a match cannot start inside a character */
        size_t i = 0;
        int64_t done = 0;
        while (!rc && i <= s->len) {
            const char *hit = (count < 0 || done < count) ? memmem(s->s + i, s->len - i, old->s, old->len) : NULL;
            if (!hit) {
                rc = tb_put(r, &b, s->s + i, s->len - i);
                break;
            }
            size_t k = (size_t)(hit - s->s);
            rc = tb_put(r, &b, s->s + i, k - i);
            if (!rc) rc = tb_put(r, &b, nw->s, nw->len);
            i = k + old->len;
            done++;
        }
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int m_join(trender_t *r, tval_t self, const targs_t *a, tval_t *out) {
    BIND("join", "iterable");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "join() takes exactly one argument");
    tval_t l;
    int rc = te_to_list(r, arg[0], &l);
    if (rc) return rc;
    tbuf_t b = {0};
    for (size_t i = 0; !rc && i < tv_l(l)->n; i++) {
        tval_t v = tv_l(l)->v[i];
        if (v.kind != TV_STR) {
            rc = te_fail(r, ERR_TEMPLATE, "sequence item %zu: expected str instance, %s found", i, tv_type_name(v));
            break;
        }
        if (i) rc = tb_put(r, &b, tv_s(self)->s, tv_s(self)->len);
        if (!rc) rc = tb_put(r, &b, tv_s(v)->s, tv_s(v)->len);
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    tv_release(l);
    return rc;
}

static int m_pad(trender_t *r, tval_t self, const targs_t *a, const char *name, tval_t *out) {
    BIND(name, "width", "fillchar");
    if (!given[0] || !tv_is_intlike(arg[0])) return te_fail(r, ERR_TEMPLATE, "%s() needs an integer width", name);
    uint32_t fill = ' ';
    if (given[1]) {
        if (arg[1].kind != TV_STR || tu_len(tv_s(arg[1])->s, tv_s(arg[1])->len) != 1)
            return te_fail(r, ERR_TEMPLATE, "The fill character must be exactly one character long");
        size_t i = 0;
        fill = tu_decode(tv_s(arg[1])->s, tv_s(arg[1])->len, &i);
    }
    tstr_t *s = tv_s(self);
    int64_t len = (int64_t)tu_len(s->s, s->len), width = arg[0].u.i;
    if (width > (int64_t)r->max_str) return te_fail(r, ERR_LIMIT, "%s() width too large", name);
    int64_t marg = width > len ? width - len : 0, left;
    bool zfill = name[0] == 'z';
    if (name[0] == 'c')
        left = marg / 2 + (marg & width & 1);
    else if (name[0] == 'l')
        left = 0;
    else
        left = marg;
    tbuf_t b = {0};
    int rc = 0;
    size_t start = 0;
    if (zfill && s->len && (s->s[0] == '+' || s->s[0] == '-')) {
        rc = tb_putc(r, &b, s->s[0]);
        start = 1;
    }
    for (int64_t i = 0; i < left && !rc; i++)
        rc = zfill ? tb_putc(r, &b, '0') : tb_putcp(r, &b, fill);
    if (!rc) rc = tb_put(r, &b, s->s + start, s->len - start);
    for (int64_t i = left; i < marg && !rc; i++)
        rc = tb_putcp(r, &b, fill);
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int m_partition(trender_t *r, tval_t self, const targs_t *a, bool from_right, tval_t *out) {
    BIND(from_right ? "rpartition" : "partition", "sep");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "partition() takes exactly one argument");
    int rc = need_str(r, arg[0], "separator");
    if (rc) return rc;
    tstr_t *s = tv_s(self), *sep = tv_s(arg[0]);
    if (!sep->len) return te_fail(r, ERR_TEMPLATE, "empty separator");
    const char *hit = NULL;
    if (!from_right)
        hit = memmem(s->s, s->len, sep->s, sep->len);
    else
        for (size_t i = s->len >= sep->len ? s->len - sep->len + 1 : 0; i-- > 0 && !hit;)
            if (!memcmp(s->s + i, sep->s, sep->len)) hit = s->s + i;
    size_t parts[3][2];
    if (!hit) {
        size_t full[2] = {0, s->len}, none[2] = {0, 0};
        memcpy(parts[from_right ? 2 : 0], full, sizeof(full));
        memcpy(parts[1], none, sizeof(none));
        memcpy(parts[from_right ? 0 : 2], none, sizeof(none));
    } else {
        size_t k = (size_t)(hit - s->s);
        parts[0][0] = 0, parts[0][1] = k;
        parts[1][0] = k, parts[1][1] = k + sep->len;
        parts[2][0] = k + sep->len, parts[2][1] = s->len;
    }
    if ((rc = tv_list_new(r, 3, true, out))) return rc;
    for (int i = 0; i < 3 && !rc; i++) {
        tval_t v;
        if (!(rc = tv_str_new(r, s->s + parts[i][0], parts[i][1] - parts[i][0], &v)))
            rc = tv_list_push(r, tv_l(*out), v);
    }
    if (rc) tv_clear(out);
    return rc;
}

static int m_affix(trender_t *r, tval_t self, const targs_t *a, bool suffix, tval_t *out) {
    BIND(suffix ? "removesuffix" : "removeprefix", "affix");
    if (!given[0]) return te_fail(r, ERR_TEMPLATE, "removeprefix() takes exactly one argument");
    int rc = need_str(r, arg[0], "argument");
    if (rc) return rc;
    tstr_t *s = tv_s(self), *x = tv_s(arg[0]);
    bool hit = x->len <= s->len && !memcmp(suffix ? s->s + s->len - x->len : s->s, x->s, x->len);
    if (!hit) return tv_str_new(r, s->s, s->len, out);
    return tv_str_new(r, suffix ? s->s : s->s + x->len, s->len - x->len, out);
}

static int m_expandtabs(trender_t *r, tval_t self, const targs_t *a, tval_t *out) {
    BIND("expandtabs", "tabsize");
    int64_t ts = given[0] && tv_is_intlike(arg[0]) ? arg[0].u.i : 8;
    if (ts > 1000) ts = 1000;
    tstr_t *s = tv_s(self);
    tbuf_t b = {0};
    int rc = 0;
    int64_t col = 0;
    for (size_t i = 0; i < s->len && !rc;) {
        size_t st = i;
        uint32_t c = tu_decode(s->s, s->len, &i);
        if (c == '\t') {
            int64_t n = ts > 0 ? ts - col % ts : 0;
            for (int64_t k = 0; k < n && !rc; k++)
                rc = tb_putc(r, &b, ' ');
            col += n;
        } else {
            rc = tb_put(r, &b, s->s + st, i - st);
            col = (c == '\n' || c == '\r') ? 0 : col + 1;
        }
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    return rc;
}

static int str_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out) {
    if (!strcmp(name, "strip")) return m_strip(r, self, a, 0, out);
    if (!strcmp(name, "lstrip")) return m_strip(r, self, a, 1, out);
    if (!strcmp(name, "rstrip")) return m_strip(r, self, a, 2, out);
    if (!strcmp(name, "split")) return m_split(r, self, a, false, out);
    if (!strcmp(name, "rsplit")) return m_split(r, self, a, true, out);
    if (!strcmp(name, "splitlines")) return m_splitlines(r, self, a, out);
    if (!strcmp(name, "startswith")) return m_startsends(r, self, a, false, out);
    if (!strcmp(name, "endswith")) return m_startsends(r, self, a, true, out);
    if (!strcmp(name, "replace")) return m_replace(r, self, a, out);
    if (!strcmp(name, "join")) return m_join(r, self, a, out);
    if (!strcmp(name, "format")) return to_str_format(r, self, a, out);
    if (!strcmp(name, "partition")) return m_partition(r, self, a, false, out);
    if (!strcmp(name, "rpartition")) return m_partition(r, self, a, true, out);
    if (!strcmp(name, "removeprefix")) return m_affix(r, self, a, false, out);
    if (!strcmp(name, "removesuffix")) return m_affix(r, self, a, true, out);
    if (!strcmp(name, "expandtabs")) return m_expandtabs(r, self, a, out);
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index") || !strcmp(name, "rindex") ||
        !strcmp(name, "count"))
        return m_find(r, self, a, name, out);
    if (!strcmp(name, "center") || !strcmp(name, "ljust") || !strcmp(name, "rjust") || !strcmp(name, "zfill"))
        return m_pad(r, self, a, name, out);
    if (a->npos || a->nkw) return te_fail(r, ERR_TEMPLATE, "str.%s() takes no arguments", name);
    if (!strncmp(name, "is", 2)) return m_is(r, self, name, out);
    static const struct {
        const char *name, *mode;
    } cases[] = {{"upper", "u"},    {"lower", "l"},      {"casefold", "f"},
                 {"swapcase", "s"}, {"capitalize", "c"}, {"title", "t"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!strcmp(name, cases[i].name)) return m_case(r, self, cases[i].mode, out);
    return te_fail(r, ERR_UNSUPPORTED, "str.%s() is not supported", name);
}

/* ---- list, dict, loop, cycler ---- */

static int list_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out) {
    tlist_t *l = tv_l(self);
    if (!strcmp(name, "copy")) return te_to_list(r, self, out);
    if (a->npos < 1 || a->nkw) return te_fail(r, ERR_TEMPLATE, "%s() takes at least one argument", name);
    int64_t count = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!tv_eq(l->v[i], a->pos[0])) continue;
        if (name[0] == 'i') {
            *out = tv_int((int64_t)i);
            return 0;
        }
        count++;
    }
    if (name[0] == 'i') return te_fail(r, ERR_TEMPLATE, "value is not in list");
    *out = tv_int(count);
    return 0;
}

static int dict_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out) {
    tdict_t *d = tv_d(self);
    int rc;
    if (!strcmp(name, "get")) {
        BIND("get", "key", "default");
        if (!given[0]) return te_fail(r, ERR_TEMPLATE, "get expected at least 1 argument, got 0");
        if (arg[0].kind == TV_DICT || (arg[0].kind == TV_LIST && !tv_l(arg[0])->tuple))
            return te_fail(r, ERR_TEMPLATE, "unhashable type: '%s'", tv_type_name(arg[0]));
        tval_t *v = tv_dict_get(d, arg[0]);
        *out = v ? *v : given[1] ? arg[1] : tv_none();
        tv_retain(*out);
        return 0;
    }
    if (a->npos || a->nkw) return te_fail(r, ERR_TEMPLATE, "dict.%s() takes no arguments", name);
    if (!strcmp(name, "copy")) {
        if ((rc = tv_dict_new(r, d->n, out))) return rc;
        for (size_t i = 0; !rc && i < d->n; i++) {
            tv_retain(d->k[i]);
            tv_retain(d->v[i]);
            rc = tv_dict_set(r, tv_d(*out), d->k[i], d->v[i]);
        }
        if (rc) tv_clear(out);
        return rc;
    }
    if ((rc = tv_list_new(r, d->n, false, out))) return rc;
    for (size_t i = 0; !rc && i < d->n; i++) {
        tval_t v;
        if (!strcmp(name, "items")) {
            if ((rc = tv_list_new(r, 2, true, &v))) break;
            tv_retain(d->k[i]);
            tv_retain(d->v[i]);
            tv_l(v)->v[0] = d->k[i];
            tv_l(v)->v[1] = d->v[i];
            tv_l(v)->n = 2;
        } else {
            v = name[0] == 'k' ? d->k[i] : d->v[i];
            tv_retain(v);
        }
        rc = tv_list_push(r, tv_l(*out), v);
    }
    if (rc)
        tv_clear(out);
    else
        tv_l(*out)->view = name[0] == 'k' ? TV_VIEW_KEYS : name[0] == 'v' ? TV_VIEW_VALUES : TV_VIEW_ITEMS;
    return rc;
}

static int loop_call(trender_t *r, tloop_t *lp, const char *name, const targs_t *a, tval_t *out) {
    if (!strcmp(name, "cycle")) {
        if (a->npos == 0) return te_fail(r, ERR_TEMPLATE, "no items for cycling given");
        *out = a->pos[lp->i % a->npos];
        tv_retain(*out);
        return 0;
    }
    /* changed(*values): true when the arguments differ from the previous call's */
    tval_t now;
    int rc = tv_list_new(r, a->npos, true, &now);
    for (size_t i = 0; !rc && i < a->npos; i++) {
        tv_retain(a->pos[i]);
        rc = tv_list_push(r, tv_l(now), a->pos[i]);
    }
    if (rc) return rc;
    bool changed = lp->changed_last.kind == TV_UNDEF || !tv_eq(lp->changed_last, now);
    tv_release(lp->changed_last);
    lp->changed_last = now;
    *out = tv_bool(changed);
    return 0;
}

static int cycler_call(trender_t *r, tcycler_t *c, const char *name, const targs_t *a, tval_t *out) {
    if (!strcmp(name, "reset")) {
        c->pos = 0;
        *out = tv_none();
        return 0;
    }
    *out = c->items->v[c->pos];
    tv_retain(*out);
    c->pos = (c->pos + 1) % c->items->n;
    return 0;
}

/* Marks a method result as Markup when the receiver was (strings, and the strings inside a list). */
static void keep_markup(tval_t *out) {
    if (out->kind == TV_STR)
        out->safe = 1;
    else if (out->kind == TV_LIST)
        for (size_t i = 0; i < tv_l(*out)->n; i++)
            if (tv_l(*out)->v[i].kind == TV_STR) tv_l(*out)->v[i].safe = 1;
}

/* A method of a Markup string. markupsafe 3 escapes replace's `new`, the fill character of center/ljust/rjust,
 * every format() argument and join's items; the other arguments are used as they are. */
static int markup_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out) {
    size_t n = a->npos + a->nkw;
    tval_t *esc = NULL;
    int rc = te_charge(r, (n + 1) * sizeof(tval_t));
    if (!rc && !(esc = calloc(n + 1, sizeof(tval_t)))) rc = te_fail(r, ERR_NOMEM, "out of memory");
    bool all = !strcmp(name, "format"), second = !strcmp(name, "replace") || !strcmp(name, "center") ||
                                                 !strcmp(name, "ljust") || !strcmp(name, "rjust");
    for (size_t i = 0; !rc && i < n; i++) {
        tval_t v = i < a->npos ? a->pos[i] : a->kwv[i - a->npos];
        if (v.kind == TV_STR && (all || (second && i == 1)))
            rc = to_escape(r, v, &esc[i]);
        else
            tv_retain(v), esc[i] = v;
    }
    if (!rc && !strcmp(name, "join") && a->npos == 1) { /* escape the items being joined */
        tval_t items;
        if (!(rc = te_to_list(r, a->pos[0], &items))) {
            for (size_t i = 0; !rc && i < tv_l(items)->n; i++) {
                tval_t e;
                if (tv_l(items)->v[i].kind != TV_STR) continue;
                if (!(rc = to_escape(r, tv_l(items)->v[i], &e))) {
                    tv_release(tv_l(items)->v[i]);
                    tv_l(items)->v[i] = e;
                }
            }
            tv_release(esc[0]);
            esc[0] = items;
        }
    }
    if (!rc) {
        targs_t ea = {.pos = esc, .npos = a->npos, .kwn = a->kwn, .kwv = esc + a->npos, .nkw = a->nkw};
        rc = str_call(r, self, name, &ea, out);
    }
    for (size_t i = 0; esc && i < n; i++)
        tv_release(esc[i]);
    free(esc);
    return rc;
}

int tm_call(trender_t *r, tval_t self, const char *name, const targs_t *a, tval_t *out) {
    *out = tv_undef();
    int rc;
    if ((rc = te_step(r))) return rc;
    switch (self.kind) {
    case TV_STR:
        rc = self.safe ? markup_call(r, self, name, a, out) : str_call(r, self, name, a, out);
        if (!rc && self.safe) keep_markup(out);
        return rc;
    case TV_LIST: return list_call(r, self, name, a, out);
    case TV_DICT: return dict_call(r, self, name, a, out);
    case TV_LOOP: return loop_call(r, (tloop_t *)self.u.o, name, a, out);
    case TV_CYCLER: return cycler_call(r, (tcycler_t *)self.u.o, name, a, out);
    default: return te_fail(r, ERR_TEMPLATE, "'%s' object has no attribute '%s'", tv_type_name(self), name);
    }
}
