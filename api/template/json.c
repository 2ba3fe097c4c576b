/*
 * json.c — JSON in and out of the template world: the render context (cJSON -> values) and Python's
 * json.dumps, which Hugging Face's tojson filter calls.
 *
 * Owns: tj_from_cjson and tj_dumps. Output matches json.dumps byte for byte: ", " and ": " separators (","
 * between items once indent is set), ensure_ascii escaping with lowercase \uXXXX and surrogate pairs,
 * NaN/Infinity, float repr, non-string keys converted as Python converts them, sort_keys, and the same
 * "Object of type X is not JSON serializable" refusals (for Undefined, generators, namespaces, ...).
 * Does not own: filter argument parsing (filters.c).
 *
 * Limitation: cJSON keeps one double per number, so an integral JSON number (even written "2.0") becomes a
 * Python int, and integers beyond 2^53 lose precision before they reach the template.
 * Single-threaded per render.
 */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "eval.h"

#define TJ_MAX_NEST 1000 /* context nesting accepted (cJSON's own parser stops at 1000) */

static int from_cjson(trender_t *r, const cJSON *j, int depth, tval_t *out) {
    int rc = 0;
    if (depth > TJ_MAX_NEST) return te_fail(r, ERR_LIMIT, "context JSON nested more than %d levels", TJ_MAX_NEST);
    if (cJSON_IsNull(j))
        *out = tv_none();
    else if (cJSON_IsTrue(j))
        *out = tv_bool(true);
    else if (cJSON_IsFalse(j))
        *out = tv_bool(false);
    else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (isfinite(d) && floor(d) == d && fabs(d) < 9.2e18)
            *out = tv_int((int64_t)d);
        else
            *out = tv_float(d);
    } else if (cJSON_IsString(j)) {
        rc = tv_str_cstr(r, j->valuestring ? j->valuestring : "", out);
    } else if (cJSON_IsArray(j)) {
        rc = tv_list_new(r, 0, false, out);
        for (const cJSON *c = j->child; c && !rc; c = c->next) {
            tval_t v;
            if (!(rc = from_cjson(r, c, depth + 1, &v))) rc = tv_list_push(r, tv_l(*out), v);
        }
    } else if (cJSON_IsObject(j)) {
        rc = tv_dict_new(r, 0, out);
        for (const cJSON *c = j->child; c && !rc; c = c->next) {
            tval_t k, v;
            if ((rc = tv_str_cstr(r, c->string ? c->string : "", &k))) break;
            if ((rc = from_cjson(r, c, depth + 1, &v))) {
                tv_release(k);
                break;
            }
            rc = tv_dict_set(r, tv_d(*out), k, v);
        }
    } else {
        *out = tv_none(); /* cJSON_Raw / invalid: nothing better to offer */
    }
    if (rc) tv_clear(out);
    return rc;
}

int tj_from_cjson(trender_t *r, const cJSON *j, tval_t *out) { return from_cjson(r, j, 0, out); }

static int dump_string(trender_t *r, tbuf_t *b, const char *s, size_t n, bool ascii) {
    int rc = tb_putc(r, b, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n && !rc;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[16];
        size_t start = i;
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            default:
                if (c < 0x20) {
                    snprintf(tmp, sizeof(tmp), "\\u%04x", c);
                    esc = tmp;
                }
            }
        } else {
            uint32_t cp = tu_decode(s, n, &i);
            if (ascii) { /* \uXXXX, astral characters as a surrogate pair; otherwise bytes are copied as they are */
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(tmp, sizeof(tmp), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                } else {
                    snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
                }
                esc = tmp;
            }
        }
        if (esc) {
            rc = tb_put(r, b, s + run, start - run);
            if (!rc) rc = tb_puts(r, b, esc);
            run = i;
        }
    }
    if (!rc) rc = tb_put(r, b, s + run, n - run);
    return rc ? rc : tb_putc(r, b, '"');
}

static int dump_float(trender_t *r, tbuf_t *b, double f) {
    char num[40];
    if (isnan(f)) return tb_puts(r, b, "NaN");
    if (isinf(f)) return tb_puts(r, b, f < 0 ? "-Infinity" : "Infinity");
    tv_fmt_float(f, num, sizeof(num));
    return tb_puts(r, b, num);
}

static int newline_indent(trender_t *r, tbuf_t *b, const tj_opts_t *o, int level) {
    int rc = tb_putc(r, b, '\n');
    for (int i = 0; i < level && !rc; i++)
        rc = tb_put(r, b, o->indent, o->indent_len);
    return rc;
}

static int dump(trender_t *r, tbuf_t *b, tval_t v, const tj_opts_t *o, int level);

/* A dict key as json.dumps converts it: str as is; numbers, bools and None to their JSON text. */
static int key_text(trender_t *r, tval_t k, tbuf_t *kb) {
    switch (k.kind) {
    case TV_STR: return tb_put(r, kb, tv_s(k)->s, tv_s(k)->len);
    case TV_NONE: return tb_puts(r, kb, "null");
    case TV_BOOL: return tb_puts(r, kb, k.u.i ? "true" : "false");
    case TV_INT: return tv_write_str(r, kb, k);
    case TV_FLOAT: return dump_float(r, kb, k.u.f);
    default: return te_fail(r, ERR_TEMPLATE, "keys must be str, int, float, bool or None, not %s", tv_type_name(k));
    }
}

static int dump_dict(trender_t *r, tbuf_t *b, const tdict_t *d, const tj_opts_t *o, int level) {
    if (d->n == 0) return tb_puts(r, b, "{}");
    size_t *order = NULL;
    int rc = 0;
    if (o->sort_keys) {
        tval_t keys;
        if ((rc = tv_list_new(r, d->n, false, &keys))) return rc;
        tval_t idx;
        if ((rc = tv_list_new(r, d->n, false, &idx))) {
            tv_release(keys);
            return rc;
        }
        for (size_t i = 0; i < d->n; i++) {
            tv_retain(d->k[i]);
            tv_l(keys)->v[i] = d->k[i];
            tv_l(idx)->v[i] = tv_int((int64_t)i);
        }
        tv_l(keys)->n = tv_l(idx)->n = d->n;
        rc = tf_sort_values(r, tv_l(idx)->v, tv_l(keys)->v, d->n, false);
        if (!rc && te_charge(r, d->n * sizeof(size_t))) rc = r->rc;
        if (!rc && !(order = malloc(d->n * sizeof(size_t)))) rc = te_fail(r, ERR_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < d->n; i++)
            order[i] = (size_t)tv_l(idx)->v[i].u.i;
        tv_release(keys);
        tv_release(idx);
        if (rc) return rc;
    }
    rc = tb_putc(r, b, '{');
    if (!rc && o->indent_set) rc = newline_indent(r, b, o, level + 1);
    for (size_t n = 0; n < d->n && !rc; n++) {
        size_t i = order ? order[n] : n;
        if (n) {
            rc = o->item_sep ? tb_put(r, b, o->item_sep, o->item_sep_len) : tb_puts(r, b, o->indent_set ? "," : ", ");
            if (!rc && o->indent_set) rc = newline_indent(r, b, o, level + 1);
            if (rc) break;
        }
        tbuf_t kb = {0};
        rc = key_text(r, d->k[i], &kb);
        if (!rc) rc = dump_string(r, b, tb_data(&kb), tb_len(&kb), o->ensure_ascii);
        tb_free(&kb);
        if (!rc) rc = o->key_sep ? tb_put(r, b, o->key_sep, o->key_sep_len) : tb_puts(r, b, ": ");
        if (!rc) rc = dump(r, b, d->v[i], o, level + 1);
    }
    free(order);
    if (!rc && o->indent_set) rc = newline_indent(r, b, o, level);
    return rc ? rc : tb_putc(r, b, '}');
}

static int dump(trender_t *r, tbuf_t *b, tval_t v, const tj_opts_t *o, int level) {
    if (level > TV_MAX_NEST) return te_fail(r, ERR_TEMPLATE, "Circular reference detected");
    switch (v.kind) {
    case TV_NONE: return tb_puts(r, b, "null");
    case TV_BOOL: return tb_puts(r, b, v.u.i ? "true" : "false");
    case TV_INT: return tv_write_str(r, b, v);
    case TV_FLOAT: return dump_float(r, b, v.u.f);
    case TV_STR: return dump_string(r, b, tv_s(v)->s, tv_s(v)->len, o->ensure_ascii);
    case TV_DICT: return dump_dict(r, b, tv_d(v), o, level);
    case TV_LIST: {
        tlist_t *l = tv_l(v);
        if (l->view) break;
        if (l->n == 0) return tb_puts(r, b, "[]");
        int rc = tb_putc(r, b, '[');
        if (!rc && o->indent_set) rc = newline_indent(r, b, o, level + 1);
        for (size_t i = 0; i < l->n && !rc; i++) {
            if (i) {
                rc = o->item_sep ? tb_put(r, b, o->item_sep, o->item_sep_len)
                                 : tb_puts(r, b, o->indent_set ? "," : ", ");
                if (!rc && o->indent_set) rc = newline_indent(r, b, o, level + 1);
                if (rc) break;
            }
            rc = dump(r, b, l->v[i], o, level + 1);
        }
        if (!rc && o->indent_set) rc = newline_indent(r, b, o, level);
        return rc ? rc : tb_putc(r, b, ']');
    }
    default: break;
    }
    return te_fail(r, ERR_TEMPLATE, "Object of type %s is not JSON serializable", tv_type_name(v));
}

int tj_dumps(trender_t *r, tbuf_t *b, tval_t v, const tj_opts_t *o) { return dump(r, b, v, o, 0); }
