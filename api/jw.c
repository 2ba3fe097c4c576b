/* jw.c — the response JSON writer (see jw.h). */
#include "jw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw_t *w) { memset(w, 0, sizeof *w); }

void jw_free(jw_t *w) {
    free(w->buf);
    jw_init(w);
}

char *jw_finish(jw_t *w, size_t *len) {
    if (w->oom || !w->buf) {
        jw_free(w);
        *len = 0;
        return NULL;
    }
    char *b = w->buf;
    *len = w->len;
    jw_init(w);
    return b;
}

static void jw__grow(jw_t *w, size_t add) {
    if (w->oom) return;
    if (w->len + add + 1 <= w->cap) return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + add + 1) {
        if (cap > SIZE_MAX / 2) {
            w->oom = true;
            return;
        }
        cap *= 2;
    }
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->oom = true;
        return;
    }
    w->buf = b;
    w->cap = cap;
}

void jw_bytes(jw_t *w, const char *s, size_t n) {
    jw__grow(w, n);
    if (w->oom) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void jw__c(jw_t *w, char c) { jw_bytes(w, &c, 1); }

/* Writes the comma that separates this value from the previous one at the current level, if any. */
static void jw__sep(jw_t *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth - 1]) jw__c(w, ',');
        w->first[w->depth - 1] = false;
    }
}

static void jw__open(jw_t *w, char open, char close) {
    jw__sep(w);
    if (w->depth >= JW_MAX_DEPTH) {
        w->oom = true; /* deeper than any response we build: treat as a failure */
        return;
    }
    jw__c(w, open);
    w->first[w->depth] = true;
    w->close[w->depth] = close;
    w->depth++;
}

void jw_obj(jw_t *w) { jw__open(w, '{', '}'); }
void jw_arr(jw_t *w) { jw__open(w, '[', ']'); }

void jw_end(jw_t *w) {
    if (w->depth <= 0) return;
    w->depth--;
    jw__c(w, w->close[w->depth]);
}

static void jw__escaped(jw_t *w, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    jw__c(w, '"');
    size_t run = 0; /* start of the current run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        jw_bytes(w, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            en = 6;
        }
        jw_bytes(w, e, en);
    }
    jw_bytes(w, s + run, n - run);
    jw__c(w, '"');
}

void jw_keyn(jw_t *w, const char *key, size_t n) {
    jw__sep(w);
    jw__escaped(w, key, n);
    jw__c(w, ':');
    w->after_key = true;
}

void jw_key(jw_t *w, const char *key) { jw_keyn(w, key, strlen(key)); }

void jw_strn(jw_t *w, const char *s, size_t n) {
    jw__sep(w);
    jw__escaped(w, s ? s : "", s ? n : 0);
}

void jw_str(jw_t *w, const char *s) {
    if (!s) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}

void jw_int(jw_t *w, int64_t v) {
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    jw__sep(w);
    jw_bytes(w, b, (size_t)n);
}

void jw_num(jw_t *w, double v) {
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    char b[40];
    int n;
    if (v == floor(v) && fabs(v) < 1e15) {
        n = snprintf(b, sizeof b, "%.1f", v); /* 2.0, -9999.0: keeps a float looking like one */
    } else {
        n = snprintf(b, sizeof b, "%.9g", v);
        if (strtod(b, NULL) != v && (double)(float)v != v) n = snprintf(b, sizeof b, "%.17g", v);
    }
    jw__sep(w);
    jw_bytes(w, b, (size_t)n);
}

void jw_bool(jw_t *w, bool v) {
    jw__sep(w);
    jw_bytes(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw_t *w) {
    jw__sep(w);
    jw_bytes(w, "null", 4);
}

void jw_raw(jw_t *w, const char *json, size_t n) {
    jw__sep(w);
    jw_bytes(w, json, n);
}
