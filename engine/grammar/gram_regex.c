/*
 * gram_regex.c — a regex subset compiled to grammar expressions (JSON Schema `pattern`, string formats).
 *
 * Supported (ECMA-262 syntax, as JSON Schema specifies): literals (any UTF-8), `.` (any character but \n, \r,
 * U+2028, U+2029), classes `[...]` / `[^...]` with ranges, escapes \d \D \w \W \s \S \t \n \r \f \v \0 \xHH
 * \uHHHH \u{H...} and escaped punctuation, groups `(...)`, `(?:...)`, `(?<name>...)`, alternation `|`,
 * quantifiers * + ? {n} {n,} {n,m} (a trailing `?`, lazy, matches the same strings), ^ at the start and $ at
 * the end. Refused with ERR_UNSUPPORTED naming the feature: backreferences, lookaround, word boundaries,
 * Unicode property escapes, inline flags, possessive quantifiers, anchors elsewhere, and an unbounded
 * repetition of something that can match the empty string.
 *
 * Characters are Unicode code points, matched as UTF-8: a class becomes byte-class sequences, one per run of
 * code points whose encodings share a shape (the classic UTF-8 range split); surrogates are never produced.
 * In JSON-string mode every character is produced as it appears inside a JSON string: '"' and '\' and control
 * characters escaped in one canonical form each (\" \\ \b \f \n \r \t, others \u00xx), everything else raw.
 * JSON Schema patterns are not anchored: without ^ (or $) the text may start (or end) with any characters.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gram_internal.h"

#define RX_MAX_NEST 200
#define RX_MAX_CP   0x10FFFFu

typedef struct {
    uint32_t lo, hi;
} rx_range_t;

typedef struct {
    rx_range_t *r;
    size_t n, cap;
} rx_cset_t;

typedef struct {
    gram_builder_t *b;
    const char *s;
    size_t len, i;
    bool json;
    int nest;
} rx_t;

typedef struct {
    uint32_t node;
    bool nullable;
} rx_res_t;

static const rx_res_t RX_FAIL = {GRAM_NONE, false};

static bool rx__cs_add(rx_t *x, rx_cset_t *c, uint32_t lo, uint32_t hi) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        rx_range_t *r = realloc(c->r, cap * sizeof *r);
        if (!r) {
            gram_build_fail(x->b, ERR_NOMEM, "regex: out of memory");
            return false;
        }
        c->r = r;
        c->cap = cap;
    }
    c->r[c->n++] = (rx_range_t){lo, hi};
    return true;
}

static int rx__cmp(const void *a, const void *b) {
    const rx_range_t *p = a, *q = b;
    return p->lo < q->lo ? -1 : p->lo > q->lo;
}

/* Sorts and merges the ranges, dropping surrogates. */
static bool rx__cs_norm(rx_t *x, rx_cset_t *c) {
    qsort(c->r, c->n, sizeof *c->r, rx__cmp);
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (k && c->r[i].lo <= c->r[k - 1].hi + 1) {
            if (c->r[i].hi > c->r[k - 1].hi) c->r[k - 1].hi = c->r[i].hi;
        } else {
            c->r[k++] = c->r[i];
        }
    }
    c->n = k;
    /* cut [D800, DFFF] out */
    size_t n = c->n;
    for (size_t i = 0; i < n; i++) {
        rx_range_t r = c->r[i];
        if (r.hi < 0xD800 || r.lo > 0xDFFF) continue;
        if (r.lo < 0xD800 && r.hi > 0xDFFF) {
            c->r[i].hi = 0xD7FF;
            if (!rx__cs_add(x, c, 0xE000, r.hi)) return false;
        } else if (r.lo < 0xD800) {
            c->r[i].hi = 0xD7FF;
        } else if (r.hi > 0xDFFF) {
            c->r[i].lo = 0xE000;
        } else {
            c->r[i].lo = 1, c->r[i].hi = 0; /* empty: removed below */
        }
    }
    k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->r[i].lo <= c->r[i].hi) c->r[k++] = c->r[i];
    c->n = k;
    qsort(c->r, c->n, sizeof *c->r, rx__cmp);
    return true;
}

/* c = all code points not in c (c normalised first). */
static bool rx__cs_negate(rx_t *x, rx_cset_t *c) {
    if (!rx__cs_norm(x, c)) return false;
    rx_cset_t o = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->r[i].lo > next && !rx__cs_add(x, &o, next, c->r[i].lo - 1)) goto fail;
        next = c->r[i].hi + 1;
    }
    if (next <= RX_MAX_CP && !rx__cs_add(x, &o, next, RX_MAX_CP)) goto fail;
    free(c->r);
    *c = o;
    return rx__cs_norm(x, c);
fail:
    free(o.r);
    return false;
}

static int rx__utf8(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Collects alternatives (sequences of byte classes) for the code points [lo, hi] encoded as UTF-8. */
typedef struct {
    uint32_t *alts;
    size_t n, cap;
    gram_set_t ascii; /* one-byte code points, merged into one class */
    bool has_ascii;
} rx_alts_t;

static bool rx__alts_push(rx_t *x, rx_alts_t *a, uint32_t node) {
    if (node == GRAM_NONE) return false;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        uint32_t *p = realloc(a->alts, cap * sizeof *p);
        if (!p) return gram_build_fail(x->b, ERR_NOMEM, "regex: out of memory"), false;
        a->alts = p;
        a->cap = cap;
    }
    a->alts[a->n++] = node;
    return true;
}

static bool rx__utf8_range(rx_t *x, rx_alts_t *a, uint32_t lo, uint32_t hi, int depth) {
    if (lo > hi) return true;
    if (depth > 32) return gram_build_fail(x->b, ERR_LIMIT, "regex: class too complex"), false;
    static const uint32_t bound[] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= bound[i] && hi > bound[i])
            return rx__utf8_range(x, a, lo, bound[i], depth + 1) && rx__utf8_range(x, a, bound[i] + 1, hi, depth + 1);
    if (hi < 0x80) {
        gram_set_add_range(&a->ascii, lo, hi);
        a->has_ascii = true;
        return true;
    }
    uint8_t bl[4], bh[4];
    int n = rx__utf8(lo, bl);
    rx__utf8(hi, bh);
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0)
                return rx__utf8_range(x, a, lo, lo | m, depth + 1) && rx__utf8_range(x, a, (lo | m) + 1, hi, depth + 1);
            if ((hi & m) != m)
                return rx__utf8_range(x, a, lo, (hi & ~m) - 1, depth + 1) &&
                       rx__utf8_range(x, a, hi & ~m, hi, depth + 1);
        }
    }
    uint32_t kids[4];
    for (int i = 0; i < n; i++) {
        gram_set_t s;
        memset(&s, 0, sizeof s);
        gram_set_add_range(&s, bl[i], bh[i]);
        kids[i] = gram_set(x->b, &s);
    }
    return rx__alts_push(x, a, gram_seq(x->b, kids, (size_t)n));
}

/* The JSON-string spelling of a character that must be escaped, or NULL. buf holds at least 7 bytes. */
static const char *rx__json_escape(uint32_t cp, char *buf) {
    switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
    }
    if (cp >= 0x20) return NULL;
    static const char hex[] = "0123456789abcdef";
    memcpy(buf, "\\u00", 4);
    buf[4] = hex[cp >> 4];
    buf[5] = hex[cp & 15];
    buf[6] = 0;
    return buf;
}

/* An expression for "one character of c" (normalised). Consumes c. */
static uint32_t rx__class_node(rx_t *x, rx_cset_t *c) {
    rx_alts_t a;
    memset(&a, 0, sizeof a);
    uint32_t res = GRAM_NONE;
    if (!rx__cs_norm(x, c)) goto done;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t lo = c->r[i].lo, hi = c->r[i].hi;
        if (x->json) { /* characters JSON escapes: one alternative each, outside the byte ranges */
            for (uint32_t cp = lo; cp <= hi && cp <= '\\'; cp++) {
                char buf[8];
                const char *esc = rx__json_escape(cp, buf);
                if (!esc) continue;
                if (!rx__alts_push(x, &a, gram_str(x->b, esc))) goto done;
            }
            for (uint32_t cp = lo; cp <= hi && cp <= '\\'; cp++) {
                char buf[8];
                if (rx__json_escape(cp, buf)) continue;
                gram_set_add(&a.ascii, cp);
                a.has_ascii = true;
            }
            if (hi <= '\\') continue;
            if (lo <= '\\') lo = '\\' + 1;
        }
        if (!rx__utf8_range(x, &a, lo, hi, 0)) goto done;
    }
    if (a.has_ascii && !rx__alts_push(x, &a, gram_set(x->b, &a.ascii))) goto done;
    if (a.n == 0) {
        gram_set_t none;
        memset(&none, 0, sizeof none);
        res = gram_set(x->b, &none); /* matches nothing */
    } else {
        res = gram_alt(x->b, a.alts, a.n);
    }
done:
    free(a.alts);
    free(c->r);
    c->r = NULL;
    c->n = c->cap = 0;
    return res;
}

static uint32_t rx__char_node(rx_t *x, uint32_t cp) {
    rx_cset_t c = {0};
    if (!rx__cs_add(x, &c, cp, cp)) return GRAM_NONE;
    return rx__class_node(x, &c);
}

/* ---- parsing ----------------------------------------------------------------------------------------- */

static uint32_t rx__fail(rx_t *x, int code, const char *what) {
    return gram_build_fail(x->b, code, "%s regex %s at offset %zu",
                           code == ERR_UNSUPPORTED ? "unsupported" : "malformed", what, x->i);
}

static bool rx__eof(const rx_t *x) { return x->i >= x->len; }
static char rx__peek(const rx_t *x) { return rx__eof(x) ? 0 : x->s[x->i]; }

/* Decodes one UTF-8 code point at x->i. Invalid UTF-8 (a stray byte, an overlong form, a surrogate, beyond
   U+10FFFF) records ERR_FORMAT and returns UINT32_MAX. */
static uint32_t rx__next_cp(rx_t *x) {
    const uint8_t *p = (const uint8_t *)x->s + x->i;
    size_t left = x->len - x->i;
    uint32_t c = p[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (n == 0 || (size_t)n > left) goto bad;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) goto bad;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min_cp[n] || cp > RX_MAX_CP || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
    x->i += (size_t)n;
    return cp;
bad:
    rx__fail(x, ERR_FORMAT, "text: invalid UTF-8");
    return UINT32_MAX;
}

static int rx__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool rx__hexn(rx_t *x, int n, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
        int h = rx__hex(rx__peek(x));
        if (rx__eof(x) || h < 0) return rx__fail(x, ERR_FORMAT, "hex escape"), false;
        v = v * 16 + (uint32_t)h;
        x->i++;
    }
    *out = v;
    return true;
}

/* Class escapes \d \w \s and their negations into c; returns 1 if handled, 0 if not a class escape. */
static int rx__class_escape(rx_t *x, char e, rx_cset_t *c) {
    rx_cset_t t = {0};
    bool neg = e == 'D' || e == 'W' || e == 'S';
    switch (e) {
    case 'd':
    case 'D': rx__cs_add(x, &t, '0', '9'); break;
    case 'w':
    case 'W':
        rx__cs_add(x, &t, '0', '9');
        rx__cs_add(x, &t, 'A', 'Z');
        rx__cs_add(x, &t, 'a', 'z');
        rx__cs_add(x, &t, '_', '_');
        break;
    case 's':
    case 'S': {
        static const uint32_t sp[][2] = {{9, 13},          {32, 32},         {0xA0, 0xA0},     {0x1680, 0x1680},
                                         {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                         {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
        for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++)
            rx__cs_add(x, &t, sp[k][0], sp[k][1]);
        break;
    }
    default: return 0;
    }
    if (gram_build_error(x->b) || (neg && !rx__cs_negate(x, &t))) {
        free(t.r);
        return -1;
    }
    for (size_t k = 0; k < t.n; k++)
        if (!rx__cs_add(x, c, t.r[k].lo, t.r[k].hi)) break;
    free(t.r);
    return gram_build_error(x->b) ? -1 : 1;
}

/* After a backslash: a single code point escape into *cp. Returns false (error recorded) otherwise. */
static bool rx__char_escape(rx_t *x, char e, uint32_t *cp) {
    switch (e) {
    case 't': *cp = '\t'; return true;
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 'f': *cp = '\f'; return true;
    case 'v': *cp = '\v'; return true;
    case '0': *cp = 0; return true;
    case 'x': return rx__hexn(x, 2, cp);
    case 'u':
        if (rx__peek(x) == '{') {
            x->i++;
            uint32_t v = 0;
            int n = 0;
            while (!rx__eof(x) && rx__peek(x) != '}') {
                int h = rx__hex(rx__peek(x));
                if (h < 0 || ++n > 6) return rx__fail(x, ERR_FORMAT, "\\u{...} escape"), false;
                v = v * 16 + (uint32_t)h;
                x->i++;
            }
            if (rx__eof(x) || n == 0 || v > RX_MAX_CP) return rx__fail(x, ERR_FORMAT, "\\u{...} escape"), false;
            x->i++;
            *cp = v;
            return true;
        }
        return rx__hexn(x, 4, cp);
    case 'b':
    case 'B': rx__fail(x, ERR_UNSUPPORTED, "feature: word boundary \\b/\\B"); return false;
    case 'p':
    case 'P': rx__fail(x, ERR_UNSUPPORTED, "feature: Unicode property escape \\p"); return false;
    case 'k': rx__fail(x, ERR_UNSUPPORTED, "feature: named backreference \\k"); return false;
    case 'c': rx__fail(x, ERR_UNSUPPORTED, "feature: control escape \\c"); return false;
    default: break;
    }
    if (e >= '1' && e <= '9') return rx__fail(x, ERR_UNSUPPORTED, "feature: backreference"), false;
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return rx__fail(x, ERR_UNSUPPORTED, "escape"), false;
    *cp = (uint8_t)e; /* escaped punctuation stands for itself */
    return true;
}

static rx_res_t rx__class(rx_t *x) {
    rx_cset_t c = {0};
    bool neg = false;
    if (rx__peek(x) == '^') {
        neg = true;
        x->i++;
    }
    bool first = true;
    for (;;) {
        if (rx__eof(x)) {
            rx__fail(x, ERR_FORMAT, "class: missing ]");
            goto fail;
        }
        if (rx__peek(x) == ']' && !first) {
            x->i++;
            break;
        }
        first = false;
        uint32_t lo;
        if (rx__peek(x) == '\\') {
            x->i++;
            if (rx__eof(x)) {
                rx__fail(x, ERR_FORMAT, "escape at end");
                goto fail;
            }
            char e = x->s[x->i++];
            int r = rx__class_escape(x, e, &c);
            if (r < 0) goto fail;
            if (r > 0) continue;
            if (e == 'b')
                lo = '\b';
            else if (!rx__char_escape(x, e, &lo))
                goto fail;
        } else if (rx__peek(x) == '[' && x->i + 1 < x->len && x->s[x->i + 1] == ':') {
            rx__fail(x, ERR_UNSUPPORTED, "feature: POSIX class [:...:]");
            goto fail;
        } else {
            lo = rx__next_cp(x);
            if (lo == UINT32_MAX) goto fail;
        }
        uint32_t hi = lo;
        if (rx__peek(x) == '-' && x->i + 1 < x->len && x->s[x->i + 1] != ']') {
            x->i++;
            if (rx__peek(x) == '\\') {
                x->i++;
                if (rx__eof(x)) {
                    rx__fail(x, ERR_FORMAT, "escape at end");
                    goto fail;
                }
                char e = x->s[x->i++];
                if (!rx__char_escape(x, e, &hi)) goto fail;
            } else {
                hi = rx__next_cp(x);
                if (hi == UINT32_MAX) goto fail;
            }
            if (hi < lo) {
                rx__fail(x, ERR_FORMAT, "class range out of order");
                goto fail;
            }
        }
        if (!rx__cs_add(x, &c, lo, hi)) goto fail;
    }
    if (neg && !rx__cs_negate(x, &c)) goto fail;
    return (rx_res_t){rx__class_node(x, &c), false};
fail:
    free(c.r);
    return RX_FAIL;
}

static rx_res_t rx__alt(rx_t *x);

static rx_res_t rx__atom(rx_t *x) {
    char ch = rx__peek(x);
    if (ch == '(') {
        x->i++;
        if (rx__peek(x) == '?') {
            x->i++;
            char k = rx__peek(x);
            if (k == ':') {
                x->i++;
            } else if (k == '<' && x->i + 1 < x->len && x->s[x->i + 1] != '=' && x->s[x->i + 1] != '!') {
                while (!rx__eof(x) && rx__peek(x) != '>')
                    x->i++;
                if (rx__eof(x)) return rx__fail(x, ERR_FORMAT, "group name"), RX_FAIL;
                x->i++;
            } else if (k == 'P' && x->i + 1 < x->len && x->s[x->i + 1] == '<') {
                while (!rx__eof(x) && rx__peek(x) != '>')
                    x->i++;
                if (rx__eof(x)) return rx__fail(x, ERR_FORMAT, "group name"), RX_FAIL;
                x->i++;
            } else if (k == '=' || k == '!' || k == '<') {
                return rx__fail(x, ERR_UNSUPPORTED, "feature: lookaround"), RX_FAIL;
            } else {
                return rx__fail(x, ERR_UNSUPPORTED, "feature: inline flags or (?...) group"), RX_FAIL;
            }
        }
        if (++x->nest > RX_MAX_NEST) return rx__fail(x, ERR_LIMIT, "nesting"), RX_FAIL;
        rx_res_t r = rx__alt(x);
        x->nest--;
        if (r.node == GRAM_NONE) return r;
        if (rx__peek(x) != ')') return rx__fail(x, ERR_FORMAT, "group: missing )"), RX_FAIL;
        x->i++;
        return r;
    }
    if (ch == '[') {
        x->i++;
        return rx__class(x);
    }
    if (ch == '.') {
        x->i++;
        rx_cset_t c = {0};
        if (!rx__cs_add(x, &c, '\n', '\n') || !rx__cs_add(x, &c, '\r', '\r') || !rx__cs_add(x, &c, 0x2028, 0x2029) ||
            !rx__cs_negate(x, &c)) {
            free(c.r);
            return RX_FAIL;
        }
        return (rx_res_t){rx__class_node(x, &c), false};
    }
    if (ch == '\\') {
        x->i++;
        if (rx__eof(x)) return rx__fail(x, ERR_FORMAT, "escape at end"), RX_FAIL;
        char e = x->s[x->i++];
        rx_cset_t c = {0};
        int r = rx__class_escape(x, e, &c);
        if (r < 0) {
            free(c.r);
            return RX_FAIL;
        }
        if (r > 0) return (rx_res_t){rx__class_node(x, &c), false};
        uint32_t cp;
        if (!rx__char_escape(x, e, &cp)) return RX_FAIL;
        return (rx_res_t){rx__char_node(x, cp), false};
    }
    if (ch == '^' || ch == '$') return rx__fail(x, ERR_UNSUPPORTED, "feature: anchor inside the pattern"), RX_FAIL;
    if (ch == '{' && !(x->i + 1 < x->len && x->s[x->i + 1] >= '0' && x->s[x->i + 1] <= '9')) {
        x->i++; /* not a quantifier: a literal '{' (ECMA Annex B) */
        return (rx_res_t){rx__char_node(x, '{'), false};
    }
    if (ch == '*' || ch == '+' || ch == '?' || ch == '{')
        return rx__fail(x, ERR_FORMAT, "quantifier without a target"), RX_FAIL;
    uint32_t cp = rx__next_cp(x);
    if (cp == UINT32_MAX) return RX_FAIL;
    return (rx_res_t){rx__char_node(x, cp), false};
}

static bool rx__number(rx_t *x, uint32_t *out) {
    uint64_t v = 0;
    size_t start = x->i;
    while (!rx__eof(x) && rx__peek(x) >= '0' && rx__peek(x) <= '9') {
        v = v * 10 + (uint64_t)(rx__peek(x) - '0');
        if (v > GRAM_MAX_REPEAT) return rx__fail(x, ERR_LIMIT, "repetition bound above 10000"), false;
        x->i++;
    }
    if (x->i == start) return false;
    *out = (uint32_t)v;
    return true;
}

static rx_res_t rx__repeat(rx_t *x) {
    rx_res_t a = rx__atom(x);
    while (a.node != GRAM_NONE && !rx__eof(x)) {
        char ch = rx__peek(x);
        uint32_t min, max;
        if (ch == '*')
            min = 0, max = GRAM_REPEAT_INF, x->i++;
        else if (ch == '+')
            min = 1, max = GRAM_REPEAT_INF, x->i++;
        else if (ch == '?')
            min = 0, max = 1, x->i++;
        else if (ch == '{') {
            size_t save = x->i;
            x->i++;
            if (!rx__number(x, &min)) {
                if (gram_build_error(x->b)) return RX_FAIL;
                x->i = save; /* a literal '{', as ECMA's Annex B reads it */
                return a;
            }
            max = min;
            if (rx__peek(x) == ',') {
                x->i++;
                if (!rx__number(x, &max)) {
                    if (gram_build_error(x->b)) return RX_FAIL;
                    max = GRAM_REPEAT_INF;
                }
            }
            if (rx__peek(x) != '}') return rx__fail(x, ERR_FORMAT, "repetition: missing }"), RX_FAIL;
            x->i++;
            if (max < min) return rx__fail(x, ERR_FORMAT, "repetition {n,m} with m < n"), RX_FAIL;
        } else {
            break;
        }
        if (rx__peek(x) == '?')
            x->i++; /* lazy: the same strings */
        else if (rx__peek(x) == '+')
            return rx__fail(x, ERR_UNSUPPORTED, "feature: possessive quantifier"), RX_FAIL;
        if (a.nullable && max == GRAM_REPEAT_INF)
            return rx__fail(x, ERR_UNSUPPORTED, "feature: unbounded repetition of something that can be empty"),
                   RX_FAIL;
        a.node = gram_repeat(x->b, a.node, min, max);
        a.nullable = a.nullable || min == 0;
    }
    return a;
}

static rx_res_t rx__seq(rx_t *x) {
    uint32_t *kids = NULL;
    size_t n = 0, cap = 0;
    bool nullable = true;
    rx_res_t res = RX_FAIL;
    while (!rx__eof(x) && rx__peek(x) != '|' && rx__peek(x) != ')') {
        if (rx__peek(x) == '$' && x->i + 1 == x->len && x->nest == 0) break; /* trailing anchor: the caller's */
        rx_res_t r = rx__repeat(x);
        if (r.node == GRAM_NONE) goto done;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            uint32_t *k = realloc(kids, cap * sizeof *k);
            if (!k) {
                gram_build_fail(x->b, ERR_NOMEM, "regex: out of memory");
                goto done;
            }
            kids = k;
        }
        kids[n++] = r.node;
        nullable = nullable && r.nullable;
    }
    res.node = gram_seq(x->b, kids, n);
    res.nullable = nullable;
done:
    free(kids);
    return res;
}

static rx_res_t rx__alt(rx_t *x) {
    uint32_t kids[256];
    size_t n = 0;
    bool nullable = false;
    for (;;) {
        rx_res_t r = rx__seq(x);
        if (r.node == GRAM_NONE) return r;
        if (n == 256) return rx__fail(x, ERR_LIMIT, "alternation with more than 256 branches"), RX_FAIL;
        kids[n++] = r.node;
        nullable = nullable || r.nullable;
        if (rx__peek(x) != '|') break;
        x->i++;
    }
    return (rx_res_t){gram_alt(x->b, kids, n), nullable};
}

uint32_t gram_regex_expr(gram_builder_t *b, const char *re, size_t len, bool json_string) {
    if (!b || (!re && len)) return GRAM_NONE;
    if (gram_build_error(b)) return GRAM_NONE;
    rx_t x = {b, re, len, 0, json_string, 0};
    bool anchored_start = len > 0 && re[0] == '^';
    if (anchored_start) x.i = 1;
    rx_res_t r = rx__alt(&x);
    if (r.node == GRAM_NONE) return GRAM_NONE;
    bool anchored_end = false;
    if (!rx__eof(&x) && rx__peek(&x) == '$' && x.i + 1 == len) {
        anchored_end = true;
        x.i++;
    }
    if (!rx__eof(&x)) return rx__fail(&x, rx__peek(&x) == ')' ? ERR_FORMAT : ERR_UNSUPPORTED, "syntax");
    if (!json_string || (anchored_start && anchored_end)) return r.node;
    /* Unanchored ends may carry any characters. */
    rx_cset_t all = {0};
    if (!rx__cs_add(&x, &all, 0, RX_MAX_CP)) return GRAM_NONE;
    uint32_t any = gram_repeat(b, rx__class_node(&x, &all), 0, GRAM_REPEAT_INF);
    return gram_seqv(b, 3, anchored_start ? gram_empty(b) : any, r.node, anchored_end ? gram_empty(b) : any);
}

int gram_from_regex(const char *re, size_t len, gram_t **out, char *err, size_t err_len) {
    if (!out || (!re && len)) return err_set(err, err_len, ERR_INVAL, "gram_from_regex: NULL argument");
    *out = NULL;
    gram_builder_t *b = gram_build_new();
    if (!b) return err_set(err, err_len, ERR_NOMEM, "regex: out of memory");
    uint32_t root = gram_regex_expr(b, re, len, false);
    if (root != GRAM_NONE) gram_rule_define(b, GRAM_ROOT, root);
    int rc = gram_build_compile(b, out, err, err_len);
    gram_build_free(b);
    return rc;
}
