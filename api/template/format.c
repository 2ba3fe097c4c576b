/*
 * format.c — Python's two string formatting styles: `fmt % args` (printf-style, also the |format filter) and
 * str.format() with its format-spec mini-language ([[fill]align][sign][#][0][width][,|_][.precision][type]).
 *
 * Owns: to_percent_format and to_str_format from eval.h. Field lookups in str.format ({0.attr}, {name[key]})
 * go through Jinja's sandboxed getitem. A Markup format string escapes the values it formats, as markupsafe
 * does. Single-threaded per render.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval.h"

/* Pads s[0..n) to width code points (left-justified when left), appending to b. */
static int put_padded(trender_t *r, tbuf_t *b, const char *s, size_t n, long width, bool left, char fill) {
    size_t len = tu_len(s, n);
    size_t pad = width > 0 && (size_t)width > len ? (size_t)width - len : 0;
    if (pad > r->max_str) return te_fail(r, ERR_LIMIT, "format width too large");
    int rc = 0;
    if (!left && fill == '0' && n && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) { /* zero padding after sign */
        rc = tb_putc(r, b, s[0]);
        s++;
        n--;
    }
    for (size_t i = 0; !left && i < pad && !rc; i++)
        rc = tb_putc(r, b, fill);
    if (!rc) rc = tb_put(r, b, s, n);
    for (size_t i = 0; left && i < pad && !rc; i++)
        rc = tb_putc(r, b, ' ');
    return rc;
}

int to_percent_format(trender_t *r, tval_t fmt, tval_t args, tval_t *out) {
    *out = tv_undef();
    const char *f = tv_s(fmt)->s;
    size_t n = tv_s(fmt)->len, argi = 0;
    bool tuple = args.kind == TV_LIST && tv_l(args)->tuple;
    bool mapping = args.kind == TV_DICT;
    size_t nargs = tuple ? tv_l(args)->n : 1;
    tbuf_t b = {0};
    int rc = 0;
    bool used_mapping = false;
    for (size_t i = 0; i < n && !rc; i++) {
        if (f[i] != '%') {
            rc = tb_putc(r, &b, f[i]);
            continue;
        }
        if (++i >= n) {
            rc = te_fail(r, ERR_TEMPLATE, "incomplete format");
            break;
        }
        tval_t arg = tv_undef();
        bool have_arg = false;
        if (f[i] == '(') {
            size_t e = i + 1;
            while (e < n && f[e] != ')')
                e++;
            if (e >= n || !mapping) {
                rc = te_fail(r, ERR_TEMPLATE, e >= n ? "incomplete format key" : "format requires a mapping");
                break;
            }
            tval_t *v = tv_dict_get_str(tv_d(args), f + i + 1, e - i - 1);
            if (!v) {
                rc = te_fail(r, ERR_TEMPLATE, "KeyError: '%.*s'", (int)(e - i - 1), f + i + 1);
                break;
            }
            arg = *v;
            have_arg = used_mapping = true;
            i = e + 1;
        }
        bool left = false, plus = false, space = false, zero = false, alt = false;
        for (; i < n && strchr("-+ 0#", f[i]); i++) {
            if (f[i] == '-')
                left = true;
            else if (f[i] == '+')
                plus = true;
            else if (f[i] == ' ')
                space = true;
            else if (f[i] == '0')
                zero = true;
            else
                alt = true;
        }
        long width = 0, prec = -1;
        while (i < n && f[i] >= '0' && f[i] <= '9' && width < 100000)
            width = width * 10 + (f[i++] - '0');
        if (i < n && f[i] == '.') {
            prec = 0;
            for (i++; i < n && f[i] >= '0' && f[i] <= '9' && prec < 1000; i++)
                prec = prec * 10 + (f[i] - '0');
        }
        while (i < n && strchr("hlL", f[i]))
            i++;
        if (i >= n) {
            rc = te_fail(r, ERR_TEMPLATE, "incomplete format");
            break;
        }
        char conv = f[i];
        if (conv == '%') {
            rc = tb_putc(r, &b, '%');
            continue;
        }
        if (!have_arg) {
            if (mapping && !tuple)
                arg = args, used_mapping = true;
            else if (argi >= nargs) {
                rc = te_fail(r, ERR_TEMPLATE, "not enough arguments for format string");
                break;
            } else
                arg = tuple ? tv_l(args)->v[argi] : args;
            argi++;
        }
        tbuf_t one = {0};
        char spec[32], num[400];
        switch (conv) {
        case 's':
        case 'r':
        case 'a': {
            tval_t sv = arg;
            if (fmt.safe && conv == 's')
                rc = to_escape(r, arg, &sv);
            else
                tv_retain(sv);
            if (!rc) rc = conv == 's' ? tv_write_str(r, &one, sv) : tv_write_repr(r, &one, sv);
            tv_release(sv);
            size_t len = tb_len(&one);
            if (!rc && prec >= 0) len = tu_offset(tb_data(&one), len, (size_t)prec);
            if (!rc) rc = put_padded(r, &b, tb_data(&one), len, width, left, ' ');
            break;
        }
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'c': {
            if (!tv_is_num(arg)) {
                rc =
                    te_fail(r, ERR_TEMPLATE, "%%%c format: a real number is required, not %s", conv, tv_type_name(arg));
                break;
            }
            int64_t v = arg.kind == TV_FLOAT ? (int64_t)arg.u.f : arg.u.i;
            if (conv == 'c') {
                rc = tb_putcp(r, &one, (uint32_t)(v < 0 || v > 0x10FFFF ? 0xFFFD : v));
                if (!rc) rc = put_padded(r, &b, tb_data(&one), tb_len(&one), width, left, ' ');
                break;
            }
            snprintf(spec, sizeof(spec), "%%%s%s%s%s%s", plus ? "+" : "", space ? " " : "", alt ? "#" : "",
                     prec >= 0 ? ".*" : "",
                     conv == 'x'   ? PRIx64
                     : conv == 'X' ? PRIX64
                     : conv == 'o' ? PRIo64
                                   : PRId64);
            int len = prec >= 0 ? snprintf(num, sizeof(num), spec, (int)prec, v) : snprintf(num, sizeof(num), spec, v);
            if (len >= (int)sizeof(num)) len = (int)sizeof(num) - 1;
            rc = put_padded(r, &b, num, (size_t)(len < 0 ? 0 : len), width, left, zero && !left ? '0' : ' ');
            break;
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G': {
            if (!tv_is_num(arg)) {
                rc = te_fail(r, ERR_TEMPLATE, "must be real number, not %s", tv_type_name(arg));
                break;
            }
            snprintf(spec, sizeof(spec), "%%%s%s%s.*%c", plus ? "+" : "", space ? " " : "", alt ? "#" : "", conv);
            int len = snprintf(num, sizeof(num), spec, (int)(prec < 0 ? 6 : prec > 300 ? 300 : prec), tv_num(arg));
            if (len >= (int)sizeof(num)) len = (int)sizeof(num) - 1;
            rc = put_padded(r, &b, num, (size_t)(len < 0 ? 0 : len), width, left, zero && !left ? '0' : ' ');
            break;
        }
        default: rc = te_fail(r, ERR_TEMPLATE, "unsupported format character '%c'", conv); break;
        }
        tb_free(&one);
    }
    if (!rc && !used_mapping) { /* lists and dicts count as mappings in Python: unused is fine */
        bool maplike = !tuple && (args.kind == TV_LIST || args.kind == TV_DICT);
        if (!maplike && argi < nargs)
            rc = te_fail(r, ERR_TEMPLATE, "not all arguments converted during string formatting");
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    if (!rc) out->safe = fmt.safe;
    return rc;
}

/* ---- str.format ---- */

typedef struct {
    uint32_t fill;
    char align; /* '<', '>', '^', '=' or 0 */
    char sign;  /* '+', '-', ' ' or 0 */
    bool alt;   /* '#' */
    char group; /* ',', '_' or 0 */
    long width; /* 0: none */
    long prec;  /* -1: none */
    char type;  /* 0 or the type letter */
} fspec_t;

static bool parse_spec(const char *s, size_t n, fspec_t *f) {
    *f = (fspec_t){.fill = ' ', .prec = -1};
    size_t i = 0, j = 0;
    if (n) { /* [[fill]align]: the fill may be any character */
        uint32_t c = tu_decode(s, n, &j);
        if (j < n && strchr("<>=^", s[j])) {
            f->fill = c;
            f->align = s[j];
            i = j + 1;
        } else if (strchr("<>=^", s[0])) {
            f->align = s[0];
            i = 1;
        }
    }
    if (i < n && strchr("+- ", s[i])) f->sign = s[i++];
    if (i < n && s[i] == '#') f->alt = true, i++;
    if (i < n && s[i] == '0') {
        if (!f->align) f->fill = '0', f->align = '=';
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9' && f->width < 100000)
        f->width = f->width * 10 + (s[i++] - '0');
    if (i < n && (s[i] == ',' || s[i] == '_')) f->group = s[i++];
    if (i < n && s[i] == '.') {
        f->prec = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9' && f->prec < 1000; i++)
            f->prec = f->prec * 10 + (s[i] - '0');
    }
    if (i < n && strchr("bcdeEfFgGnosxX%", s[i])) f->type = s[i++];
    return i == n;
}

/* Inserts the grouping character every three digits of the integer part of the number in d[0..*n). */
static void group_digits(char *d, size_t *n, size_t cap, char sep) {
    size_t start = (d[0] == '-' || d[0] == '+' || d[0] == ' ') ? 1 : 0, end = start;
    while (end < *n && d[end] >= '0' && d[end] <= '9')
        end++;
    size_t digits = end - start, commas = digits > 3 ? (digits - 1) / 3 : 0;
    if (!commas || *n + commas >= cap) return;
    memmove(d + end + commas, d + end, *n - end + 1);
    size_t o = end + commas;
    for (size_t k = 0; k < digits; k++) {
        d[--o] = d[end - 1 - k];
        if (k % 3 == 2 && k + 1 < digits) d[--o] = sep;
    }
    *n += commas;
}

/* Formats one value per spec into b: Python's format(value, spec). */
static int format_value(trender_t *r, tbuf_t *b, tval_t v, const char *spec, size_t sl) {
    fspec_t f;
    if (!parse_spec(spec, sl, &f)) return te_fail(r, ERR_TEMPLATE, "Invalid format specifier '%.*s'", (int)sl, spec);
    char num[512];
    size_t n = 0;
    tbuf_t text = {0};
    int rc = 0;
    bool numeric = tv_is_num(v) && !(v.kind == TV_BOOL && sl == 0); /* format(True, '') is 'True' */
    if (!numeric) {
        if (v.kind != TV_STR && sl > 0 && v.kind != TV_BOOL)
            return te_fail(r, ERR_TEMPLATE, "unsupported format string passed to %s.__format__", tv_type_name(v));
        if (f.type && f.type != 's')
            return te_fail(r, ERR_TEMPLATE, "Unknown format code '%c' for object of type '%s'", f.type,
                           tv_type_name(v));
        rc = tv_write_str(r, &text, v);
        size_t len = tb_len(&text);
        if (!rc && f.prec >= 0) len = tu_offset(tb_data(&text), len, (size_t)f.prec);
        if (!rc && len < tb_len(&text)) text.s->len = len;
        if (!f.align) f.align = '<';
    } else {
        bool as_int = v.kind != TV_FLOAT && (f.type == 0 || strchr("bcdnoxX", f.type)) && !(f.type == 0 && f.prec >= 0);
        if (as_int) {
            int64_t x = v.u.i;
            uint64_t mag = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
            if (f.prec >= 0) return te_fail(r, ERR_TEMPLATE, "Precision not allowed in integer format specifier");
            if (f.type == 'c') {
                rc = tb_putcp(r, &text, (uint32_t)(x < 0 || x > 0x10FFFF ? 0xFFFD : x));
            } else {
                char digits[80];
                int base = f.type == 'x' || f.type == 'X' ? 16 : f.type == 'o' ? 8 : f.type == 'b' ? 2 : 10;
                size_t k = sizeof(digits);
                digits[--k] = 0;
                do {
                    unsigned dgt = (unsigned)(mag % (uint64_t)base);
                    digits[--k] = (char)(dgt < 10 ? '0' + dgt : (f.type == 'X' ? 'A' : 'a') + dgt - 10);
                    mag /= (uint64_t)base;
                } while (mag);
                n = (size_t)snprintf(num, sizeof(num), "%s%s%s",
                                     x < 0           ? "-"
                                     : f.sign == '+' ? "+"
                                     : f.sign == ' ' ? " "
                                                     : "",
                                     f.alt && base != 10 ? (base == 16  ? (f.type == 'X' ? "0X" : "0x")
                                                            : base == 8 ? "0o"
                                                                        : "0b")
                                                         : "",
                                     digits + k);
                if (f.group && base == 10) group_digits(num, &n, sizeof(num), f.group);
                rc = tb_put(r, &text, num, n);
            }
        } else {
            double x = tv_num(v);
            char t = f.type ? f.type : 0;
            int prec = f.prec < 0 ? 6 : (int)(f.prec > 300 ? 300 : f.prec);
            const char *sign = f.sign == '+' ? "+" : f.sign == ' ' ? " " : "";
            if (t == 0 && f.prec < 0) { /* repr, with the sign flag in front */
                char rep[40];
                tv_fmt_float(x, rep, sizeof(rep));
                snprintf(num, sizeof(num), "%s%s", x >= 0 || isnan(x) ? sign : "", rep);
            } else if (t == '%') {
                snprintf(num, sizeof(num), "%s%.*f%%", x >= 0 ? sign : "", prec, x * 100);
            } else if (t == 0) { /* general format, but always with a digit after the point */
                snprintf(num, sizeof(num), "%s%.*g", x >= 0 ? sign : "", prec ? prec : 1, x);
                if (isfinite(x) && !strpbrk(num, ".e")) strncat(num, ".0", sizeof(num) - strlen(num) - 1);
            } else {
                char cf[16];
                snprintf(cf, sizeof(cf), "%%s%%%s.*%c", f.alt ? "#" : "", t == 'n' ? 'g' : t);
                snprintf(num, sizeof(num), cf, x >= 0 || isnan(x) ? sign : "", prec, x);
            }
            n = strlen(num);
            if (f.group) group_digits(num, &n, sizeof(num), f.group);
            rc = tb_put(r, &text, num, n);
        }
        if (!f.align) f.align = '>';
    }
    /* pad to the width */
    size_t len = tb_len(&text), cps = tu_len(tb_data(&text), len);
    size_t pad = f.width > 0 && (size_t)f.width > cps ? (size_t)f.width - cps : 0;
    size_t left = f.align == '<' ? 0 : f.align == '^' ? pad / 2 : pad, skip = 0;
    if (!rc && f.align == '=' && len && strchr("+- ", tb_data(&text)[0])) { /* sign first, then the fill */
        rc = tb_putc(r, b, tb_data(&text)[0]);
        skip = 1;
    }
    for (size_t i = 0; !rc && i < left; i++)
        rc = tb_putcp(r, b, f.fill);
    if (!rc) rc = tb_put(r, b, tb_data(&text) + skip, len - skip);
    for (size_t i = left; !rc && i < pad; i++)
        rc = tb_putcp(r, b, f.fill);
    tb_free(&text);
    return rc;
}

/* Resolves a replacement field's name ("0", "", "name", "0.attr[key]") to a new reference in *v. */
static int field_value(trender_t *r, const char *f, size_t fl, const targs_t *a, size_t *auto_idx, tval_t *v) {
    size_t k = 0;
    while (k < fl && f[k] != '.' && f[k] != '[')
        k++;
    bool numeric = k > 0;
    for (size_t q = 0; q < k; q++)
        numeric = numeric && f[q] >= '0' && f[q] <= '9';
    if (k == 0 || numeric) {
        size_t idx = numeric ? (size_t)strtoul(f, NULL, 10) : (*auto_idx)++;
        if (idx >= a->npos)
            return te_fail(r, ERR_TEMPLATE, "Replacement index %zu out of range for positional args tuple", idx);
        *v = a->pos[idx];
    } else {
        size_t q = 0;
        while (q < a->nkw && !(strlen(a->kwn[q]) == k && !memcmp(a->kwn[q], f, k)))
            q++;
        if (q == a->nkw) return te_fail(r, ERR_TEMPLATE, "KeyError: '%.*s'", (int)k, f);
        *v = a->kwv[q];
    }
    tv_retain(*v);
    while (k < fl) {
        size_t st = k + 1, en = st;
        tval_t key, next;
        int rc;
        if (f[k] == '.') {
            while (en < fl && f[en] != '.' && f[en] != '[')
                en++;
            rc = tv_str_new(r, f + st, en - st, &key);
            k = en;
        } else if (f[k] == '[') {
            while (en < fl && f[en] != ']')
                en++;
            bool dig = en > st;
            for (size_t q = st; q < en; q++)
                dig = dig && f[q] >= '0' && f[q] <= '9' && en - st < 18;
            if (dig)
                key = tv_int(strtoll(f + st, NULL, 10)), rc = 0;
            else
                rc = tv_str_new(r, f + st, en - st, &key);
            k = en + 1;
        } else {
            rc = te_fail(r, ERR_TEMPLATE, "Only '.' or '[' may follow ']' in format field specifier");
            key = tv_undef();
        }
        if (!rc) rc = te_getitem(r, *v, key, &next);
        tv_release(key);
        tv_release(*v);
        *v = tv_undef();
        if (rc) return rc;
        *v = next;
    }
    return 0;
}

int to_str_format(trender_t *r, tval_t fmt, const targs_t *a, tval_t *out) {
    *out = tv_undef();
    tstr_t *s = tv_s(fmt);
    tbuf_t b = {0};
    int rc = 0;
    size_t auto_idx = 0;
    for (size_t i = 0; i < s->len && !rc; i++) {
        char c = s->s[i];
        if (c == '}') {
            if (i + 1 >= s->len || s->s[i + 1] != '}') {
                rc = te_fail(r, ERR_TEMPLATE, "Single '}' encountered in format string");
                break;
            }
            rc = tb_putc(r, &b, '}');
            i++;
            continue;
        }
        if (c != '{') {
            rc = tb_putc(r, &b, c);
            continue;
        }
        if (i + 1 < s->len && s->s[i + 1] == '{') {
            rc = tb_putc(r, &b, '{');
            i++;
            continue;
        }
        size_t e = i + 1;
        while (e < s->len && s->s[e] != '}')
            e++;
        if (e >= s->len) {
            rc = te_fail(r, ERR_TEMPLATE, "Single '{' encountered in format string");
            break;
        }
        const char *f = s->s + i + 1;
        size_t fl = e - i - 1, name_len = 0;
        while (name_len < fl && f[name_len] != '!' && f[name_len] != ':')
            name_len++;
        tval_t v;
        if ((rc = field_value(r, f, name_len, a, &auto_idx, &v))) break;
        size_t k = name_len;
        char conv = 0;
        if (k + 1 < fl && f[k] == '!') {
            conv = f[k + 1];
            k += 2;
        }
        const char *spec = k < fl && f[k] == ':' ? f + k + 1 : f + fl;
        size_t sl = (size_t)(f + fl - spec);
        if (conv == 'r' || conv == 'a' || conv == 's') { /* the conversion turns the value into a string first */
            tbuf_t cb = {0};
            tval_t sv;
            rc = conv == 's' ? tv_write_str(r, &cb, v) : tv_write_repr(r, &cb, v);
            if (!rc) rc = tb_finish(r, &cb, &sv);
            tb_free(&cb);
            tv_release(v);
            v = rc ? tv_undef() : sv;
        }
        if (!rc && fmt.safe) { /* markupsafe escapes every formatted value */
            tval_t ev;
            if (!(rc = to_escape(r, v, &ev))) {
                tv_release(v);
                v = ev;
            }
        }
        if (!rc) rc = format_value(r, &b, v, spec, sl);
        tv_release(v);
        i = e;
    }
    if (!rc) rc = tb_finish(r, &b, out);
    tb_free(&b);
    if (!rc) out->safe = fmt.safe;
    return rc;
}
