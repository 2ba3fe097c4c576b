/*
 * tmpl.c — the public face of the template engine: compile, render, free; and the arena compiled templates
 * live in.
 *
 * Owns: tmpl_* from tmpl.h, source normalisation (newlines to "\n", one trailing newline dropped, as Jinja2
 * does), the per-render state setup and teardown, and ta_* from ast.h.
 * Does not own: lexing, parsing, evaluation (lexer.c, parser.c, eval.c).
 *
 * Thread-safe as documented in tmpl.h: a tmpl_t is never written after tmpl_compile returns.
 */
#include "tmpl.h"

#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "err.h"
#include "eval.h"

struct tmpl {
    tarena_t arena; /* every token, node and constant */
    char *src;      /* normalised source (tokens point into it) */
    tnode_t *root;  /* N_BODY */
};

/* ---- arena ---- */

struct tachunk {
    tachunk_t *next;
    size_t used, cap; /* bytes of data[] */
    _Alignas(16) unsigned char data[];
};

void *ta_alloc(tarena_t *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    tachunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof(tachunk_t) + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *ta_strdup(tarena_t *a, const char *s, size_t n) {
    char *d = ta_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int ta_const_str(tarena_t *a, const char *s, size_t n, tval_t *out) {
    tstr_t *t = ta_alloc(a, sizeof(tstr_t) + n + 1);
    if (!t) return ERR_NOMEM;
    t->h.refs = -1; /* immortal: shared by every render of this template */
    t->h.kind = TV_STR;
    t->len = n;
    memcpy(t->s, s, n);
    t->s[n] = 0;
    *out = tv_obj(TV_STR, t);
    return 0;
}

void ta_free(tarena_t *a) {
    while (a->head) {
        tachunk_t *c = a->head;
        a->head = c->next;
        free(c);
    }
    a->used = 0;
}

/* ---- compile ---- */

int tmpl_compile(const char *src, size_t len, tmpl_t **out, char *err, size_t err_len) {
    if (!out) return err_set(err, err_len, ERR_INVAL, "tmpl_compile: no output pointer");
    *out = NULL;
    if (!src && len) return err_set(err, err_len, ERR_INVAL, "tmpl_compile: no source");
    if (len > TMPL_MAX_SOURCE_BYTES)
        return err_set(err, err_len, ERR_RANGE, "template source is %zu bytes, more than the %u-byte limit", len,
                       TMPL_MAX_SOURCE_BYTES);
    tmpl_t *t = calloc(1, sizeof(*t));
    if (!t) return err_set(err, err_len, ERR_NOMEM, "out of memory");
    int rc;
    t->src = malloc(len + 1);
    if (!t->src) {
        rc = err_set(err, err_len, ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t n = 0; /* \r\n and \r become \n */
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            t->src[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            t->src[n++] = src[i];
        }
    }
    if (n > 0 && t->src[n - 1] == '\n') n--; /* keep_trailing_newline=False */
    t->src[n] = 0;
    ttok_t *toks;
    size_t n_toks;
    if ((rc = tl_lex(&t->arena, t->src, n, &toks, &n_toks, err, err_len))) goto fail;
    if ((rc = tp_parse(&t->arena, toks, n_toks, &t->root, err, err_len))) goto fail;
    *out = t;
    return 0;
fail:
    tmpl_free(t);
    return rc;
}

void tmpl_free(tmpl_t *t) {
    if (!t) return;
    ta_free(&t->arena);
    free(t->src);
    free(t);
}

/* ---- render ---- */

void tmpl_render_opts_default(tmpl_render_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->now = 0;
    o->max_output_bytes = 16u << 20;
    o->max_alloc_bytes = 512u << 20;
    o->max_steps = 2000000;
    o->max_depth = 100;
}

int tmpl_render(const tmpl_t *t, const cJSON *context, const tmpl_render_opts_t *opts, char **out, size_t *out_len,
                char *err, size_t err_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out || !out_len) return err_set(err, err_len, ERR_INVAL, "tmpl_render: missing argument");
    if (context && !cJSON_IsObject(context))
        return err_set(err, err_len, ERR_INVAL, "template context must be a JSON object");
    tmpl_render_opts_t def;
    if (!opts) {
        tmpl_render_opts_default(&def);
        opts = &def;
    }
    trender_t r = {
        .root = t->root,
        .now = opts->now,
        .max_str = opts->max_output_bytes,
        .budget = opts->max_alloc_bytes,
        .steps = opts->max_steps,
        .max_depth = opts->max_depth > 0 ? opts->max_depth : 1,
        .err = err,
        .err_len = err_len,
    };
    if (err && err_len) err[0] = 0;
    tbuf_t buf = {0};
    int rc = 0;
    r.globals = te_frame_new(&r, NULL);
    if (!r.globals) {
        rc = r.rc;
        goto cleanup;
    }
    for (const cJSON *c = context ? context->child : NULL; c; c = c->next) {
        tval_t v;
        if (!c->string) continue;
        if ((rc = tj_from_cjson(&r, c, &v)) || (rc = te_frame_set(&r, r.globals, c->string, v))) goto cleanup;
    }
    if ((rc = te_render(&r, &buf))) goto cleanup;
    if (!buf.s && (rc = tb_put(&r, &buf, "", 0))) goto cleanup;
    /* hand the buffer's bytes out as a plain malloc'd string: slide them over the header */
    size_t n = buf.s->len;
    char *p = (char *)buf.s;
    memmove(p, buf.s->s, n + 1);
    char *shrunk = realloc(p, n + 1);
    *out = shrunk ? shrunk : p;
    *out_len = n;
    buf.s = NULL;
cleanup:
    if (rc && r.rc == 0) r.rc = rc;
    tb_free(&buf);
    te_cleanup(&r);
    return rc;
}
