/*
 * lexer.c — splits a Jinja template into tokens, the way Jinja2's lexer does under Hugging Face's settings.
 *
 * Owns: tag recognition ({{ }}, {% %}, {# #}, {% raw %}), whitespace control (`-` strips all whitespace on that
 * side, `+` keeps it; trim_blocks drops the newline after a block or comment tag; lstrip_blocks drops the spaces
 * that only indent a block or comment tag), the tokens inside tags, and string-literal escapes.
 * Does not own: grammar (parser.c). Input is the normalised source from tmpl.c (only "\n" newlines, the final
 * newline removed, as Jinja2 does with keep_trailing_newline off).
 *
 * Reentrant: all state is in the lx_t of one call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "err.h"

typedef struct {
    tarena_t *a;
    const char *src;
    size_t len;
    size_t pos;      /* next byte to read */
    size_t line_pos; /* bytes before this have been counted into line */
    int line;        /* line of line_pos */
    ttok_t *v;       /* tokens (malloc), moved into the arena at the end */
    size_t n, cap;
    char *err;
    size_t err_len;
} lx_t;

static const char *const op_text[] = {
    [OP_NONE] = "?",      [OP_ADD] = "+",    [OP_SUB] = "-",    [OP_MUL] = "*",        [OP_DIV] = "/",
    [OP_FLOORDIV] = "//", [OP_MOD] = "%",    [OP_POW] = "**",   [OP_TILDE] = "~",      [OP_LBRACKET] = "[",
    [OP_RBRACKET] = "]",  [OP_LPAREN] = "(", [OP_RPAREN] = ")", [OP_LBRACE] = "{",     [OP_RBRACE] = "}",
    [OP_EQ] = "==",       [OP_NE] = "!=",    [OP_LT] = "<",     [OP_LE] = "<=",        [OP_GT] = ">",
    [OP_GE] = ">=",       [OP_ASSIGN] = "=", [OP_DOT] = ".",    [OP_COLON] = ":",      [OP_PIPE] = "|",
    [OP_COMMA] = ",",     [OP_SEMI] = ";",   [OP_IN] = "in",    [OP_NOTIN] = "not in",
};

const char *tl_op_text(int op) {
    if (op < 0 || op >= (int)(sizeof(op_text) / sizeof(op_text[0])) || !op_text[op]) return "?";
    return op_text[op];
}

/* The line number of byte offset p (p never moves backwards between calls). */
static int lx_line_at(lx_t *lx, size_t p) {
    if (p < lx->line_pos) return lx->line;
    for (size_t i = lx->line_pos; i < p && i < lx->len; i++)
        if (lx->src[i] == '\n') lx->line++;
    lx->line_pos = p;
    return lx->line;
}

static int lx_fail(lx_t *lx, size_t at, const char *msg, const char *arg) {
    int line = lx_line_at(lx, at);
    return err_set(lx->err, lx->err_len, ERR_TEMPLATE, "%s%s (template line %d)", msg, arg ? arg : "", line);
}

static int lx_push(lx_t *lx, ttok_t t) {
    if (lx->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        ttok_t *v = realloc(lx->v, cap * sizeof(*v));
        if (!v) return err_set(lx->err, lx->err_len, ERR_NOMEM, "out of memory while lexing the template");
        lx->v = v;
        lx->cap = cap;
    }
    lx->v[lx->n++] = t;
    return 0;
}

/* Length of the Python-whitespace character at s[i], or 0. */
static size_t ws_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) return tu_isspace(c) ? 1 : 0;
    size_t j = i;
    uint32_t cp = tu_decode(s, n, &j);
    return tu_isspace(cp) ? j - i : 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    size_t w;
    while ((w = ws_at(s, n, i)) > 0)
        i += w;
    return i;
}

/* Python str.rstrip(): the end of s[b..e) without trailing whitespace. */
static size_t rstrip_end(const char *s, size_t b, size_t e) {
    while (e > b) {
        size_t k = e - 1;
        while (k > b && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--; /* start of the last character */
        if (ws_at(s, e, k) != e - k) break;
        e = k;
    }
    return e;
}

/* True if s[b..e) is non-empty and all whitespace (Jinja's `\s+` fullmatch). */
static bool all_ws(const char *s, size_t b, size_t e) {
    if (b >= e) return false;
    return skip_ws(s, e, b) == e;
}

static int emit_data(lx_t *lx, size_t b, size_t e) {
    if (e <= b) return 0;
    ttok_t t = {.kind = TK_DATA, .line = lx_line_at(lx, b), .s = lx->src + b, .n = e - b};
    return lx_push(lx, t);
}

/* Matches `{%[-+]?\s*NAME\s*` at p and then `-%}`, `+%}` or `%}`; on success *end is past the tag (before any
 * whitespace a `-` consumes) and *close_sign is the sign before %} (0, '-', '+'). */
static bool match_named_tag(const char *s, size_t n, size_t p, const char *name, char *open_sign, char *close_sign,
                            size_t *end) {
    if (p + 2 > n || s[p] != '{' || s[p + 1] != '%') return false;
    size_t i = p + 2;
    *open_sign = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) *open_sign = s[i++];
    i = skip_ws(s, n, i);
    size_t nl = strlen(name);
    if (i + nl > n || memcmp(s + i, name, nl) != 0) return false;
    i += nl;
    if (i < n &&
        ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' || (s[i] >= '0' && s[i] <= '9')))
        return false;
    i = skip_ws(s, n, i);
    *close_sign = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) *close_sign = s[i++];
    if (i + 2 > n || s[i] != '%' || s[i + 1] != '}') return false;
    *end = i + 2;
    return true;
}

/*
 * Applies the left-side whitespace rules to the text s[b..e) that precedes a tag, returning the new end:
 * `-` strips all trailing whitespace; otherwise lstrip_blocks (for block and comment tags not marked `+`)
 * drops the spaces between the last newline and the tag when nothing else is on that line.
 */
static size_t left_strip(const char *s, size_t b, size_t e, char sign, bool lstrip_kind, bool line_starting) {
    if (sign == '-') return rstrip_end(s, b, e);
    if (sign == '+' || !lstrip_kind) return e;
    size_t l = e;
    while (l > b && s[l - 1] != '\n')
        l--;
    if ((l > b || line_starting) && all_ws(s, l, e)) return l;
    return e;
}

/* ---- string literals ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *d, uint32_t cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the body of a string literal s[b..e) with Python's unicode-escape rules into the arena. */
static int lex_string_body(lx_t *lx, size_t b, size_t e, ttok_t *t) {
    char *d = ta_alloc(lx->a, e - b + 1); /* escapes never expand: \uXXXX (6) -> at most 3 bytes, etc. */
    if (!d) return err_set(lx->err, lx->err_len, ERR_NOMEM, "out of memory while lexing the template");
    const char *s = lx->src;
    size_t o = 0;
    for (size_t i = b; i < e;) {
        char c = s[i];
        if (c != '\\' || i + 1 >= e) {
            d[o++] = c;
            i++;
            continue;
        }
        char x = s[i + 1];
        i += 2;
        uint32_t cp;
        int digits = 0;
        switch (x) {
        case '\n': continue;
        case '\\': d[o++] = '\\'; continue;
        case '\'': d[o++] = '\''; continue;
        case '"': d[o++] = '"'; continue;
        case 'a': d[o++] = '\a'; continue;
        case 'b': d[o++] = '\b'; continue;
        case 'f': d[o++] = '\f'; continue;
        case 'n': d[o++] = '\n'; continue;
        case 'r': d[o++] = '\r'; continue;
        case 't': d[o++] = '\t'; continue;
        case 'v': d[o++] = '\v'; continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (x >= '0' && x <= '7') {
                cp = (uint32_t)(x - '0');
                for (int k = 0; k < 2 && i < e && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                o += put_utf8(d + o, cp);
                continue;
            }
            d[o++] = '\\'; /* unknown escapes stay as written */
            d[o++] = x;
            continue;
        }
        cp = 0;
        for (int k = 0; k < digits; k++) {
            int h = i < e ? hexval(s[i]) : -1;
            if (h < 0) return lx_fail(lx, i, "truncated \\x, \\u or \\U escape in a string literal", NULL);
            cp = cp * 16 + (uint32_t)h;
            i++;
        }
        if (cp > 0x10FFFF) return lx_fail(lx, i, "illegal Unicode character in a string literal", NULL);
        o += put_utf8(d + o, cp);
    }
    d[o] = 0;
    t->s = d;
    t->n = o;
    return 0;
}

/* ---- tokens inside {{ }} and {% %} ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/* Scans `(\d+_)*\d+` at i; returns the end or i when no digits. */
static size_t scan_digits(const char *s, size_t n, size_t i) {
    size_t j = i;
    while (j < n && is_digit(s[j])) {
        j++;
        if (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) j++;
    }
    return j;
}

/* Copies s[b..e) without underscores into buf (cap bytes), NUL-terminated; false if too long. */
static bool copy_number(const char *s, size_t b, size_t e, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '_') continue;
        if (o + 1 >= cap) return false;
        buf[o++] = s[i];
    }
    buf[o] = 0;
    return true;
}

static int lex_number(lx_t *lx, size_t i, size_t *next) {
    const char *s = lx->src;
    size_t n = lx->len;
    ttok_t t = {.line = lx_line_at(lx, i)};
    char buf[400];
    /* float: digits ((. digits)? e[+-]?digits | . digits), not directly after a dot */
    size_t j = scan_digits(s, n, i);
    bool after_dot = i > 0 && s[i - 1] == '.';
    if (!after_dot) {
        size_t k = j;
        bool frac = false;
        if (k + 1 < n && s[k] == '.' && is_digit(s[k + 1])) {
            k = scan_digits(s, n, k + 1);
            frac = true;
        }
        size_t m = k;
        bool expo = false;
        if (m < n && (s[m] == 'e' || s[m] == 'E')) {
            size_t q = m + 1;
            if (q < n && (s[q] == '+' || s[q] == '-')) q++;
            size_t r = scan_digits(s, n, q);
            if (r > q) {
                m = r;
                expo = true;
            }
        }
        if (expo || frac) {
            size_t end = expo ? m : k;
            if (!copy_number(s, i, end, buf, sizeof(buf))) return lx_fail(lx, i, "number literal too long", NULL);
            t.kind = TK_FLOAT;
            t.f = strtod(buf, NULL);
            *next = end;
            return lx_push(lx, t);
        }
    }
    /* integer: 0b, 0o, 0x prefixes, or decimal */
    int base = 10;
    size_t b = i, e;
    if (s[i] == '0' && i + 1 < n && s[i + 1] && strchr("bBoOxX", s[i + 1])) {
        char p = (char)(s[i + 1] | 0x20);
        base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
        e = i + 2;
        while (e < n) {
            char c = s[e];
            if (c == '_' && e + 1 < n && hexval(s[e + 1]) >= 0 && hexval(s[e + 1]) < base) {
                e++;
                continue;
            }
            int h = hexval(c);
            if (h < 0 || h >= base) break;
            e++;
        }
        if (e == i + 2) {
            base = 10;
            e = i + 1; /* just "0" */
        } else {
            b = i + 2;
        }
    } else if (s[i] == '0') {
        e = i + 1;
        while (e < n && (s[e] == '0' || (s[e] == '_' && e + 1 < n && s[e + 1] == '0')))
            e++;
    } else {
        e = j;
    }
    if (!copy_number(s, b, e, buf, sizeof(buf))) return lx_fail(lx, i, "number literal too long", NULL);
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, base);
    if (errno == ERANGE || v > (unsigned long long)INT64_MAX) return lx_fail(lx, i, "integer literal too large", NULL);
    t.kind = TK_INT;
    t.i = (int64_t)v;
    *next = e;
    return lx_push(lx, t);
}

static int lex_operator(lx_t *lx, size_t i, size_t *next) {
    const char *s = lx->src;
    char c = s[i], d = i + 1 < lx->len ? s[i + 1] : 0;
    int op = OP_NONE;
    size_t w = 2;
    if (c == '/' && d == '/')
        op = OP_FLOORDIV;
    else if (c == '*' && d == '*')
        op = OP_POW;
    else if (c == '=' && d == '=')
        op = OP_EQ;
    else if (c == '!' && d == '=')
        op = OP_NE;
    else if (c == '<' && d == '=')
        op = OP_LE;
    else if (c == '>' && d == '=')
        op = OP_GE;
    else {
        w = 1;
        switch (c) {
        case '+': op = OP_ADD; break;
        case '-': op = OP_SUB; break;
        case '/': op = OP_DIV; break;
        case '*': op = OP_MUL; break;
        case '%': op = OP_MOD; break;
        case '~': op = OP_TILDE; break;
        case '[': op = OP_LBRACKET; break;
        case ']': op = OP_RBRACKET; break;
        case '(': op = OP_LPAREN; break;
        case ')': op = OP_RPAREN; break;
        case '{': op = OP_LBRACE; break;
        case '}': op = OP_RBRACE; break;
        case '<': op = OP_LT; break;
        case '>': op = OP_GT; break;
        case '=': op = OP_ASSIGN; break;
        case '.': op = OP_DOT; break;
        case ':': op = OP_COLON; break;
        case '|': op = OP_PIPE; break;
        case ',': op = OP_COMMA; break;
        case ';': op = OP_SEMI; break;
        default: break;
        }
    }
    if (op == OP_NONE) {
        char ch[8] = {'\'', c, '\'', 0};
        if ((unsigned char)c >= 0x80) {
            size_t j = i, k = 0;
            tu_decode(s, lx->len, &j);
            ch[k++] = '\'';
            for (size_t q = i; q < j && k < 6; q++)
                ch[k++] = s[q];
            ch[k++] = '\'';
            ch[k] = 0;
        }
        return lx_fail(lx, i, "unexpected char ", ch);
    }
    ttok_t t = {.kind = TK_OP, .op = (uint8_t)op, .line = lx_line_at(lx, i)};
    *next = i + w;
    return lx_push(lx, t);
}

/*
 * Lexes the inside of a {{ }} (is_block false) or {% %} tag starting at i, through its end delimiter.
 * Brackets nest: an end delimiter inside open brackets is read as operators, as Jinja2 does, so
 * `{{ {'a': {'b': 1}} }}` works. *line_starting reports whether the tag ended by consuming a newline.
 */
static int lex_tag(lx_t *lx, size_t i, bool is_block, size_t *next, bool *line_starting) {
    const char *s = lx->src;
    size_t n = lx->len;
    uint8_t stack[TP_MAX_NEST];
    int depth = 0;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n)
            return lx_fail(lx, i,
                           is_block ? "unexpected end of template, expected '%}'"
                                    : "unexpected end of template, expected '}}'",
                           NULL);
        char end_c = is_block ? '%' : '}';
        if (depth == 0) {
            bool minus = s[i] == '-' && i + 2 < n && s[i + 1] == end_c && s[i + 2] == '}';
            bool plus = is_block && s[i] == '+' && i + 2 < n && s[i + 1] == '%' && s[i + 2] == '}';
            bool plain = s[i] == end_c && i + 1 < n && s[i + 1] == '}';
            if (minus || plus || plain) {
                ttok_t t = {.kind = is_block ? TK_BLOCK_END : TK_VAR_END, .line = lx_line_at(lx, i)};
                int rc = lx_push(lx, t);
                if (rc) return rc;
                size_t e = i + (plain ? 2 : 3);
                *line_starting = false;
                if (minus) {
                    size_t f = skip_ws(s, n, e);
                    if (f > e && s[f - 1] == '\n') *line_starting = true;
                    e = f;
                } else if (plain && is_block && e < n && s[e] == '\n') {
                    e++; /* trim_blocks */
                    *line_starting = true;
                }
                *next = e;
                return 0;
            }
        }
        int rc;
        char c = s[i];
        if (is_digit(c)) {
            rc = lex_number(lx, i, &i);
        } else if (is_name_start(c)) {
            size_t j = i;
            while (j < n && is_name_char(s[j]))
                j++;
            ttok_t t = {.kind = TK_NAME, .line = lx_line_at(lx, i), .s = s + i, .n = j - i};
            rc = lx_push(lx, t);
            i = j;
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != c)
                j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j >= n) return lx_fail(lx, i, "unexpected end of string literal", NULL);
            ttok_t t = {.kind = TK_STRING, .line = lx_line_at(lx, i)};
            rc = lex_string_body(lx, i + 1, j, &t);
            if (!rc) rc = lx_push(lx, t);
            i = j + 1;
        } else {
            size_t at = i;
            rc = lex_operator(lx, i, &i);
            if (!rc) {
                int op = lx->v[lx->n - 1].op;
                if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE) {
                    if (depth >= TP_MAX_NEST) return lx_fail(lx, at, "brackets nested too deeply", NULL);
                    stack[depth++] = (uint8_t)op;
                } else if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
                    if (depth == 0)
                        return lx_fail(lx, at, "unexpected ",
                                       op == OP_RPAREN     ? "')'"
                                       : op == OP_RBRACKET ? "']'"
                                                           : "'}'");
                    int want = stack[depth - 1] == OP_LPAREN     ? OP_RPAREN
                               : stack[depth - 1] == OP_LBRACKET ? OP_RBRACKET
                                                                 : OP_RBRACE;
                    if (op != want)
                        return lx_fail(lx, at, "unexpected closing bracket, expected ",
                                       want == OP_RPAREN     ? "')'"
                                       : want == OP_RBRACKET ? "']'"
                                                             : "'}'");
                    depth--;
                }
            }
        }
        if (rc) return rc;
    }
}

/* Finds the next "{{", "{%" or "{#" at or after p; returns len if none. */
static size_t find_tag(const char *s, size_t n, size_t p) {
    while (p + 1 < n) {
        const char *q = memchr(s + p, '{', n - p - 1);
        if (!q) return n;
        p = (size_t)(q - s);
        char d = s[p + 1];
        if (d == '{' || d == '%' || d == '#') return p;
        p++;
    }
    return n;
}

/* Lexes {% raw %}...{% endraw %} whose opening tag spans [p, open_end). */
static int lex_raw(lx_t *lx, size_t p, size_t open_end, char close_sign, size_t *next, bool *line_starting) {
    const char *s = lx->src;
    size_t n = lx->len;
    size_t b = open_end;
    if (close_sign == '-') b = skip_ws(s, n, b);
    for (size_t q = find_tag(s, n, b); q < n; q = find_tag(s, n, q + 1)) {
        char os, cs;
        size_t end;
        if (!match_named_tag(s, n, q, "endraw", &os, &cs, &end)) continue;
        bool starting = b > open_end && s[b - 1] == '\n';
        size_t e = left_strip(s, b, q, os, true, starting);
        int rc = emit_data(lx, b, e);
        if (rc) return rc;
        *line_starting = false;
        if (cs == '-') {
            size_t f = skip_ws(s, n, end);
            if (f > end && s[f - 1] == '\n') *line_starting = true;
            end = f;
        } else if (cs == 0 && end < n && s[end] == '\n') {
            end++;
            *line_starting = true;
        }
        *next = end;
        return 0;
    }
    return lx_fail(lx, p, "missing end of raw directive", NULL);
}

int tl_lex(tarena_t *a, const char *src, size_t len, ttok_t **toks, size_t *n_toks, char *err, size_t err_len) {
    lx_t lx = {.a = a, .src = src, .len = len, .line = 1, .err = err, .err_len = err_len};
    bool line_starting = true;
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        size_t p = find_tag(src, len, pos);
        if (p >= len) {
            rc = emit_data(&lx, pos, len);
            if (rc) goto cleanup;
            break;
        }
        char kind = src[p + 1];
        char sign = (p + 2 < len && (src[p + 2] == '-' || src[p + 2] == '+')) ? src[p + 2] : 0;
        char os, cs;
        size_t raw_end;
        bool is_raw = kind == '%' && match_named_tag(src, len, p, "raw", &os, &cs, &raw_end) && cs != '+';
        size_t text_end = left_strip(src, pos, p, sign, kind != '{', line_starting);
        rc = emit_data(&lx, pos, text_end);
        if (rc) goto cleanup;
        if (is_raw) {
            rc = lex_raw(&lx, p, raw_end, cs, &pos, &line_starting);
        } else if (kind == '#') {
            size_t b = p + 2 + (sign ? 1 : 0);
            size_t q = b;
            while (q + 1 < len && !(src[q] == '#' && src[q + 1] == '}'))
                q++;
            if (q + 1 >= len) {
                rc = lx_fail(&lx, p, "missing end of comment tag", NULL);
                goto cleanup;
            }
            size_t e = q + 2;
            line_starting = false;
            if (q > b && src[q - 1] == '-') {
                size_t f = skip_ws(src, len, e);
                if (f > e && src[f - 1] == '\n') line_starting = true;
                e = f;
            } else if (!(q > b && src[q - 1] == '+') && e < len && src[e] == '\n') {
                e++;
                line_starting = true;
            }
            pos = e;
        } else {
            bool is_block = kind == '%';
            ttok_t t = {.kind = is_block ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, .line = lx_line_at(&lx, p)};
            rc = lx_push(&lx, t);
            if (!rc) rc = lex_tag(&lx, p + 2 + (sign ? 1 : 0), is_block, &pos, &line_starting);
        }
        if (rc) goto cleanup;
    }
    ttok_t eof = {.kind = TK_EOF, .line = lx_line_at(&lx, len)};
    rc = lx_push(&lx, eof);
    if (rc) goto cleanup;
    *toks = ta_alloc(a, lx.n * sizeof(ttok_t));
    if (!*toks) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory while lexing the template");
        goto cleanup;
    }
    memcpy(*toks, lx.v, lx.n * sizeof(ttok_t));
    *n_toks = lx.n;
cleanup:
    free(lx.v);
    return rc;
}
