/*
 * bench_sse.c — incremental Server-Sent Events parsing (see bench_sse.h).
 *
 * A line is gathered in p->line until its terminator, then handled: a field line appends to the event being
 * assembled, a blank line dispatches it. Buffers grow geometrically up to max_bytes.
 */
#include "bench_sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void bsse_init(bsse_t *p, size_t max_bytes) {
    memset(p, 0, sizeof *p);
    p->max_bytes = max_bytes ? max_bytes : 1;
}

void bsse_free(bsse_t *p) {
    if (!p) return;
    size_t max_bytes = p->max_bytes;
    free(p->line);
    free(p->data);
    bsse_init(p, max_bytes);
}

/* Makes room for need bytes plus a NUL in *buf (capacity *cap); need is already checked against max_bytes. */
static int bsse__reserve(char **buf, size_t *cap, size_t need, char *err, size_t err_len) {
    if (need + 1 <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need + 1)
        c = c > SIZE_MAX / 2 ? need + 1 : c * 2;
    char *nb = realloc(*buf, c);
    if (!nb) return err_set(err, err_len, ERR_NOMEM, "out of memory for a %zu-byte SSE line", need);
    *buf = nb;
    *cap = c;
    return 0;
}

/* Dispatches the assembled event (if it has data) and resets it for the next one. */
static int bsse__dispatch(bsse_t *p, bsse_event_fn fn, void *user) {
    int rc = 0;
    if (p->has_data) {
        /* The data buffer holds each line followed by LF; the last LF is not part of the data. */
        size_t len = p->data_len ? p->data_len - 1 : 0;
        p->data[len] = '\0';
        rc = fn(user, p->event, p->data, len);
    }
    p->data_len = 0;
    p->has_data = false;
    p->event[0] = '\0';
    return rc;
}

/* Handles one complete line (without its terminator), held in p->line (line_len bytes). */
static int bsse__line(bsse_t *p, bsse_event_fn fn, void *user, char *err, size_t err_len) {
    const char *s = p->line ? p->line : "";
    size_t n = p->line_len;
    p->line_len = 0;
    if (n == 0) return bsse__dispatch(p, fn, user);
    if (s[0] == ':') return 0; /* comment (keep-alive) */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *val = colon ? colon + 1 : s + n;
    size_t val_len = colon ? n - name_len - 1 : 0;
    if (val_len > 0 && val[0] == ' ') {
        val++;
        val_len--;
    }
    if (name_len == 4 && !memcmp(s, "data", 4)) {
        if (p->data_len > p->max_bytes || val_len + 1 > p->max_bytes - p->data_len)
            return err_set(err, err_len, ERR_LIMIT, "SSE event over %zu bytes", p->max_bytes);
        int rc = bsse__reserve(&p->data, &p->data_cap, p->data_len + val_len + 1, err, err_len);
        if (rc) return rc;
        memcpy(p->data + p->data_len, val, val_len);
        p->data_len += val_len;
        p->data[p->data_len++] = '\n';
        p->has_data = true;
    } else if (name_len == 5 && !memcmp(s, "event", 5)) {
        size_t k = val_len < BSSE_EVENT_MAX - 1 ? val_len : BSSE_EVENT_MAX - 1;
        memcpy(p->event, val, k);
        p->event[k] = '\0';
    }
    return 0;
}

int bsse_feed(bsse_t *p, const char *buf, size_t n, bsse_event_fn fn, void *user, char *err, size_t err_len) {
    if (n == 0) return 0; /* keeps after_cr for the piece that follows */
    size_t i = 0;
    if (p->after_cr && buf[0] == '\n') i = 1; /* the LF of a CRLF split across two pieces */
    p->after_cr = false;
    while (i < n) {
        /* Find the next line terminator (CR or LF) in buf[i..n). */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r')
            j++;
        size_t piece = j - i;
        if (piece > p->max_bytes - p->line_len)
            return err_set(err, err_len, ERR_LIMIT, "SSE line over %zu bytes", p->max_bytes);
        if (piece > 0) {
            int rc = bsse__reserve(&p->line, &p->line_cap, p->line_len + piece, err, err_len);
            if (rc) return rc;
            memcpy(p->line + p->line_len, buf + i, piece);
            p->line_len += piece;
        }
        if (j == n) break; /* the line continues in the next piece */
        /* buf[j] ends the line; CRLF counts as one terminator. */
        if (buf[j] == '\r') {
            if (j + 1 < n && buf[j + 1] == '\n')
                j++;
            else if (j + 1 == n)
                p->after_cr = true;
        }
        int rc = bsse__line(p, fn, user, err, err_len);
        if (rc) return rc;
        i = j + 1;
    }
    return 0;
}

int bsse_finish(bsse_t *p, bsse_event_fn fn, void *user, char *err, size_t err_len) {
    p->after_cr = false;
    if (p->line_len > 0) {
        int rc = bsse__line(p, fn, user, err, err_len);
        if (rc) return rc;
    }
    return bsse__dispatch(p, fn, user);
}

bool bsse_mid_line(const bsse_t *p) { return p->line_len > 0; }
